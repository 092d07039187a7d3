"""Verification codes: made from secrets, checked by HMAC, sealed so only the secret opens them."""

from __future__ import annotations

import os
import stat
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
from hypothesis import given
from hypothesis import strategies as st

from qasid.domain.encoding import analyze
from qasid.otp import texts
from qasid.otp.codes import PLACEHOLDER, CodeBook
from qasid.server_secret import server_secret
from qasid.settings import Settings

BOOK = CodeBook(b"k" * 32)
OTHER = CodeBook(b"z" * 32)
codes = st.text(alphabet="0123456789", min_size=4, max_size=10)
verification_ids = st.text(min_size=1, max_size=40)


class TestCodeBook:
    @given(verification_ids, codes)
    def test_a_sealed_code_opens_with_the_same_secret_and_id(self, verification_id, code):
        sealed = BOOK.seal(verification_id, code)
        assert len(sealed) == len(code)
        assert sealed.isdigit()
        assert BOOK.open(verification_id, sealed) == code

    def test_the_seal_depends_on_the_secret_and_the_id(self):
        sealed = BOOK.seal("ver_a", "123456")
        assert OTHER.open("ver_a", sealed) != "123456"
        assert BOOK.open("ver_b", sealed) != "123456"
        assert len({BOOK.seal(f"ver_{n}", "123456") for n in range(50)}) > 45  # one pad per id

    @given(verification_ids, codes)
    def test_only_the_right_code_matches_its_digest(self, verification_id, code):
        digest = BOOK.digest(verification_id, code)
        assert BOOK.matches(verification_id, code, digest)
        assert not BOOK.matches(verification_id, code + "0", digest)
        assert not OTHER.matches(verification_id, code, digest)
        assert not BOOK.matches(verification_id + "x", code, digest)

    def test_new_codes_have_the_asked_length_and_every_digit_turns_up(self):
        made = [BOOK.new(6) for _ in range(2000)]
        assert {len(code) for code in made} == {6}
        assert all(code.isdigit() for code in made)
        assert len(set(made)) > 1990
        counts = Counter("".join(made))
        assert set(counts) == set("0123456789")
        assert min(counts.values()) > 1000  # 1,200 expected per digit
        assert BOOK.new(10).isdigit()
        with pytest.raises(ValueError, match="4 to 10"):
            BOOK.new(3)

    def test_a_short_secret_is_refused(self):
        with pytest.raises(ValueError, match="32 bytes"):
            CodeBook(b"short")


class TestTexts:
    @pytest.mark.parametrize("locale", texts.LOCALES)
    def test_each_text_fits_one_part_with_a_long_brand_and_code(self, locale):
        text = texts.render(texts.TEXTS[locale], "B" * 20, 1440, app_hash=None, web_domain=None)
        assert text.count(PLACEHOLDER) == 1
        assert analyze(text.replace(PLACEHOLDER, "0" * 10)).segments == 1


class TestServerSecret:
    def test_the_environment_wins_and_must_be_long(self, tmp_path):
        settings = Settings(secret_key="s" * 40, secret_key_file=tmp_path / "secret")
        assert server_secret(settings) == b"s" * 40
        assert not (tmp_path / "secret").exists()
        with pytest.raises(ValueError, match="at least 32"):
            server_secret(Settings(secret_key="short"))

    def test_a_secret_file_is_made_once_private_and_then_reused(self, tmp_path):
        settings = Settings(secret_key_file=tmp_path / "secret")
        first = server_secret(settings)
        assert len(first) >= 32
        assert stat.S_IMODE(os.stat(tmp_path / "secret").st_mode) == 0o600
        assert server_secret(settings) == first
        assert os.listdir(tmp_path) == ["secret"]  # nothing left aside

    def test_processes_starting_together_agree_on_one_secret(self, tmp_path):
        settings = Settings(secret_key_file=tmp_path / "secret")
        with ThreadPoolExecutor(8) as pool:
            found = set(pool.map(lambda _: server_secret(settings), range(32)))
        assert len(found) == 1
