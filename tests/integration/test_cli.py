"""The operator's commands, run in-process against the test database."""

from __future__ import annotations

import dataclasses
import re
import traceback
from datetime import UTC, datetime

import pytest
from asgi_lifespan import LifespanManager
from pydantic import SecretStr
from sqlalchemy import select
from typer.testing import CliRunner

from qasid.api.app import create_app
from qasid.channels import registry
from qasid.cli.main import app
from qasid.errors import InvalidRequest
from qasid.models import server_secret_check
from qasid.routing.repository import RoutingRepository
from qasid.server_secret import fingerprint
from qasid.settings import get_settings
from qasid.vault import Vault
from tests.support import Operator, running_simulator, vault, wait_for

runner = CliRunner()


def qasid(*args: str, ok: bool = True) -> str:
    result = runner.invoke(app, list(args))
    if ok:
        assert result.exit_code == 0, result.output
    else:
        assert result.exit_code != 0, result.output
    return result.output


@pytest.fixture
def account(settings) -> str:
    return qasid("accounts", "create", "Acme", "--prepaid", "5000").strip()


class TestHelp:
    def test_help_lists_every_command(self):
        output = qasid("--help")
        for command in ("serve", "migrate", "demo", "accounts", "keys", "credit", "prices", "senders"):
            assert command in output


class TestAccounts:
    def test_create_prints_only_the_id(self, account):
        assert re.fullmatch(r"acc_[0-9a-f]{32}", account)

    def test_prepaid_and_postpaid_together_are_refused(self, settings):
        assert "choose one" in qasid("accounts", "create", "X", "--prepaid", "1", "--postpaid", "1", ok=False)

    def test_an_unknown_currency_is_refused(self, settings):
        assert "unknown currency" in qasid("accounts", "create", "X", "--currency", "XYZ", ok=False)

    def test_amounts_are_typed_in_major_units(self, settings, operator: Operator):
        account_id = qasid("accounts", "create", "Dollars", "--prepaid", "12.50", "--currency", "USD").strip()
        assert operator.account(account_id).balance == 1250
        assert "more decimals" in qasid("credit", "add", account_id, "0.001", ok=False)

    def test_postpaid_sets_a_credit_limit(self, settings, operator: Operator):
        account_id = qasid("accounts", "create", "Later", "--postpaid", "300").strip()
        found = operator.account(account_id)
        assert (found.payment_type, found.credit_limit, found.balance) == ("postpaid", 300, 0)

    def test_show_reports_the_balance_and_agrees_with_the_ledger(self, account):
        output = qasid("accounts", "show", account)
        assert "balance:       5000 IQD" in output

    def test_suspend_and_resume(self, account, operator: Operator):
        assert qasid("accounts", "suspend", account).strip().endswith("suspended")
        assert operator.account(account).status == "suspended"
        qasid("accounts", "resume", account)
        assert operator.account(account).status == "active"

    def test_accounts_are_found_by_unique_name(self, account):
        assert account in qasid("accounts", "show", "Acme")

    def test_an_unknown_account_is_an_error(self, settings):
        assert "no account" in qasid("accounts", "show", "acc_nothing", ok=False)

    def test_list_shows_every_account(self, account):
        assert account in qasid("accounts", "list")


class TestCredit:
    def test_credit_add_prints_the_new_balance_and_writes_the_ledger(self, account, operator: Operator):
        assert qasid("credit", "add", account, "250", "--note", "invoice 7").strip() == "5250 IQD"
        assert operator.ledger_sum(account) == 5250

    def test_a_prepaid_account_cannot_be_taken_below_zero(self, account, operator: Operator):
        assert "below zero" in qasid("credit", "add", account, "--", "-6000", ok=False)
        assert operator.account(account).balance == 5000

    def test_credit_can_be_taken_back(self, account, operator: Operator):
        qasid("credit", "add", account, "--", "-1000")
        assert operator.account(account).balance == 4000 == operator.ledger_sum(account)


class TestKeys:
    async def test_a_created_key_works_and_is_shown_once(self, account, client):
        key = qasid("keys", "create", account).splitlines()[0]
        assert key.startswith("qsk_")
        assert (
            await client.get("/v1/account", headers={"Authorization": f"Bearer {key}"})
        ).status_code == 200
        listing = qasid("keys", "list", account)
        assert key not in listing
        assert key.split("_")[1] in listing

    async def test_revoke_by_prefix_stops_the_key(self, account, client):
        key = qasid("keys", "create", account).splitlines()[0]
        qasid("keys", "revoke", key.split("_")[1])
        response = await client.get("/v1/account", headers={"Authorization": f"Bearer {key}"})
        assert response.json()["code"] == "revoked_api_key"
        assert "revoked" in qasid("keys", "list", account)

    def test_expiry_is_shown(self, account):
        qasid("keys", "create", account, "--expires-in-days", "30", "--name", "ci")
        assert "expires" in qasid("keys", "list", account)


class TestPrices:
    def test_set_and_list(self, settings):
        qasid("prices", "set", "IQ", "20", "--operator", "Asiacell")
        qasid("prices", "set", "IQ", "25")
        listing = qasid("prices", "list")
        assert re.search(r"IQ\s+asiacell\s+sms\s+20 IQD", listing)
        assert re.search(r"IQ\s+\*\s+sms\s+25 IQD", listing)

    def test_setting_again_replaces_the_price(self, settings):
        qasid("prices", "set", "IQ", "20")
        qasid("prices", "set", "IQ", "22")
        [row] = qasid("prices", "list").splitlines()
        assert row.endswith("22 IQD")

    def test_an_accounts_own_price(self, account):
        qasid("prices", "set", "IQ", "9", "--account", account)
        assert account in qasid("prices", "list", "--account", account)

    def test_a_negative_or_malformed_price_is_refused(self, settings):
        qasid("prices", "set", "IQ", "--", "-1", ok=False)
        qasid("prices", "set", "IRQ", "1", ok=False)
        qasid("prices", "set", "*", "1", "--operator", "zain", ok=False)

    def test_remove(self, settings):
        qasid("prices", "set", "IQ", "20")
        qasid("prices", "remove", "IQ")
        assert "IQ" not in qasid("prices", "list")
        qasid("prices", "remove", "IQ", ok=False)


class TestSenders:
    @pytest.mark.parametrize("name", ["Qasid", "My Shop 1", "A", "ABCDEFGHIJK"])
    def test_valid_alphanumeric_names(self, account, name):
        assert "alphanumeric" in qasid("senders", "add", account, name)

    @pytest.mark.parametrize("name", ["ABCDEFGHIJKL", "Shop!", "", "   ", "Ünïcode", "123 456"])
    def test_invalid_names_are_refused(self, account, name):
        qasid("senders", "add", account, name, ok=False)

    def test_a_numeric_sender_is_kept_in_e164(self, account):
        assert "+9647701234567 numeric approved" in qasid(
            "senders", "add", account, "9647701234567", "--approved"
        )

    def test_new_senders_are_pending_until_approved(self, account):
        assert qasid("senders", "add", account, "Shop").strip().endswith("pending")
        assert qasid("senders", "approve", account, "Shop").strip() == "Shop approved: everywhere"
        assert qasid("senders", "reject", account, "Shop").strip() == "Shop rejected"

    def test_a_duplicate_is_refused(self, account):
        qasid("senders", "add", account, "Shop")
        assert "already" in qasid("senders", "add", account, "Shop", ok=False)


class TestConnectorsAndRoutes:
    def test_add_list_and_remove_a_simulator_with_its_route(self, settings):
        connector_id = qasid(
            "connectors", "add", "simulator", "sim", "--latency-ms", "5", "--seed", "1"
        ).strip()
        assert connector_id.startswith("con_")
        assert '"latency_ms":5.0' in qasid("connectors", "list")
        route_id = qasid(
            "routes", "add", "--connector", "sim", "--country", "IQ", "--operator", "Zain"
        ).strip()
        assert re.search(r"IQ\s+zain\s+\*\s+-> sim", qasid("routes", "list"))
        assert "remove them first" in qasid("connectors", "remove", "sim", ok=False)
        qasid("routes", "remove", route_id)
        qasid("connectors", "remove", "sim")
        assert "sim" not in qasid("connectors", "list")

    def test_a_duplicate_name_and_bad_settings_are_refused(self, settings):
        qasid("connectors", "add", "simulator", "sim")
        assert "already" in qasid("connectors", "add", "simulator", "sim", ok=False)
        qasid("connectors", "add", "simulator", "odd", "--undelivered-rate", "2", ok=False)

    def test_routes_check_their_fields(self, settings):
        qasid("connectors", "add", "simulator", "sim")
        assert "prefix" in qasid("routes", "add", "--connector", "sim", "--prefix", "96x", ok=False)
        assert "no connector" in qasid("routes", "add", "--connector", "ghost", ok=False)

    def test_disable_and_enable(self, settings):
        qasid("connectors", "add", "simulator", "sim")
        assert qasid("connectors", "disable", "sim").strip() == "sim disabled"
        assert "disabled" in qasid("connectors", "list")
        assert qasid("connectors", "enable", "sim").strip() == "sim enabled"

    def test_the_kinds_are_listed(self, settings):
        kinds = qasid("connectors", "kinds")
        assert "simulator" in kinds
        assert "smpp" in kinds

    def test_an_smpp_connector_keeps_its_password_out_of_sight(self, settings):
        qasid("connectors", "add", "smpp", "zain", "--host", "smsc.example", "--system-id", "qasid",
              "--password", "s3cr3t", "--window", "100", "--bind", "transmitter+receiver",
              "--submit-id", "hex")  # fmt: skip
        listed = qasid("connectors", "list")
        assert '"window":100' in listed
        assert '"bind":"transmitter+receiver"' in listed
        assert '"submit_id":"hex"' in listed
        assert "s3cr3t" not in listed
        assert '"password":"********"' in listed

    def test_a_connectors_settings_change_in_place_and_stay_valid(self, settings):
        qasid("connectors", "add", "smpp", "zain", "--host", "smsc.example", "--system-id", "qasid",
              "--password", "old")  # fmt: skip
        qasid("routes", "add", "--connector", "zain")
        shown = qasid(
            "connectors", "set", "zain", "window=50", "tps=12.5", "host=smsc2.example", "password=n3w"
        )
        assert '"window":50' in shown
        assert '"tps":12.5' in shown
        assert '"host":"smsc2.example"' in shown
        assert "n3w" not in shown
        assert '"window":50' in qasid("connectors", "list")
        assert "window" in qasid("connectors", "set", "zain", "window=0", ok=False)
        assert "unknown" in qasid("connectors", "set", "zain", "colour=blue", ok=False).lower()
        assert "FIELD=VALUE" in qasid("connectors", "set", "zain", "window", ok=False)
        assert '"window":50' in qasid("connectors", "list")  # the refused changes left it as it was

    def test_a_text_setting_of_digits_stays_text(self, settings, db):
        qasid("connectors", "add", "smpp", "zain", "--host", "smsc.example", "--system-id", "qasid",
              "--password", "old")  # fmt: skip
        qasid("connectors", "set", "zain", "password=123456", "system_id=4711", "window=50", "tls_ca=null")
        kind, raw = stored(db, "zain")
        config = registry.config_for(kind, raw, vault())
        assert (config.password, config.system_id, config.window, config.tls_ca) == (
            "123456",
            "4711",
            50,
            None,
        )
        qasid("connectors", "set", "zain", 'password="9876"')  # quoted, as JSON text
        assert registry.config_for(kind, stored(db, "zain")[1], vault()).password == "9876"
        assert "window" in qasid("connectors", "set", "zain", "window=fifty", ok=False)

    def test_smpp_settings_are_checked(self, settings):
        too_long = qasid("connectors", "add", "smpp", "x", "--host", "h", "--system-id", "qasid",
                         "--password", "far-too-long", ok=False)  # fmt: skip
        assert "password" in too_long
        assert "coding" in qasid("connectors", "add", "smpp", "y", "--host", "h", "--system-id", "q",
                                 "--password", "p", "--default-data-coding", "8", ok=False)  # fmt: skip

    def test_whatsapp_and_telegram_connectors_keep_every_secret_out_of_sight(self, settings):
        qasid("connectors", "add", "whatsapp", "wa", "--phone-number-id", "1234567890", "--token", "watok",
              "--app-secret", "wasecret", "--verify-token", "wavt")  # fmt: skip
        qasid("connectors", "add", "telegram", "tg", "--token", "tgtok",
              "--callback-url", "https://gw.example/webhooks/telegram/tg")  # fmt: skip
        assert (
            qasid("routes", "add", "--connector", "wa").strip().startswith("rte_")
        )  # channel from the connector
        own = '{"acc_1": {"phone_number_id": "5550001", "token": "acctok", "template": "acme_otp"}}'
        shown = qasid("connectors", "set", "wa", f"accounts={own}")
        listed = qasid("connectors", "list") + qasid("routes", "list")
        for secret in ("watok", "wasecret", "wavt", "tgtok", "acctok"):
            assert secret not in shown + listed
        assert '"phone_number_id":"5550001"' in shown
        assert "whatsapp" in qasid("routes", "list")
        refused = qasid("connectors", "add", "whatsapp", "bad", "--phone-number-id", "x", "--token", "t",
                        "--app-secret", "s", "--verify-token", "v", ok=False)  # fmt: skip
        assert "phone_number_id" in refused

    def test_an_smsapi_upstream_keeps_its_keys_out_of_sight(self, settings):
        qasid("connectors", "add", "smsapi", "up", "--base-url", "https://provider.example/smsapi",
              "--key", "upstream-api-key", "--callback-key", "upstream-callback-key")  # fmt: skip
        listed = qasid("connectors", "list")
        assert "provider.example" in listed
        assert "upstream-api-key" not in listed
        assert "upstream-callback-key" not in listed
        assert "smsapi" in qasid("connectors", "kinds")
        qasid("connectors", "add", "standingtech", "bulk", "--base-url", "https://sms.standingtech.com",
              "--key", "49|standingtech-key", "--poll-seconds", "15")  # fmt: skip
        listed = qasid("connectors", "list")
        assert '"poll_seconds":15.0' in listed
        assert "standingtech-key" not in listed
        qasid("connectors", "add", "otpiq", "oq", "--base-url", "https://api.otpiq.com/api",
              "--key", "sk_live_k", "--callback-url", "https://gw.example/webhooks/otpiq/oq",
              "--callback-secret", "a-report-secret-of-24-chars")  # fmt: skip
        qasid(
            "connectors", "add", "fullsms", "full", "--base-url", "https://api.fullsms.com", "--key", "20|tok"
        )
        listed = qasid("connectors", "list")
        for secret in ("sk_live_k", "a-report-secret-of-24-chars", "20|tok"):
            assert secret not in listed
        half = qasid("connectors", "add", "otpiq", "half", "--base-url", "https://x.example", "--key", "k",
                     "--callback-url", "https://gw.example/cb", ok=False)  # fmt: skip
        assert "callback_secret" in half
        short = qasid("connectors", "add", "smsapi", "bad", "--base-url", "ftp://x", "--key", "k",
                      "--callback-key", "short", ok=False)  # fmt: skip
        assert "base_url" in short


def stored(db, name: str) -> tuple[str, str]:
    """A connector's kind and its configuration as the database holds it (what a dump shows)."""
    with db.read() as conn:
        record = RoutingRepository(conn).connector(name)
    assert record is not None
    return record.kind, record.config


class TestSealedSecrets:
    """Passwords and tokens are stored encrypted under the server secret, which lives outside the
    database: a dump or backup of the database alone does not reveal them."""

    def test_a_dump_holds_no_secret_and_the_gateway_opens_them(self, settings, db):
        qasid("connectors", "add", "smpp", "zain", "--host", "smsc.example", "--system-id", "qasid",
              "--password", "s3cr3t")  # fmt: skip
        qasid("connectors", "add", "whatsapp", "wa", "--phone-number-id", "1234567890", "--token", "watok",
              "--app-secret", "wasecret", "--verify-token", "wavt")  # fmt: skip
        own = '{"acc_1": {"phone_number_id": "5550001", "token": "acctok"}}'
        qasid("connectors", "set", "wa", f"accounts={own}")
        kind, raw = stored(db, "zain")
        assert "s3cr3t" not in raw
        assert '"password":{"sealed":"v1.' in raw
        assert registry.config_for(kind, raw, vault()).password == "s3cr3t"
        kind, raw = stored(db, "wa")
        for secret in ("watok", "wasecret", "wavt", "acctok"):
            assert secret not in raw
        config = registry.config_for(kind, raw, vault())
        assert (config.token, config.app_secret, config.verify_token) == ("watok", "wasecret", "wavt")
        assert config.accounts["acc_1"].token == "acctok"
        assert "keep secrets stored plain" not in qasid("connectors", "list")

    def test_another_server_secret_cannot_open_them_and_changes_nothing(self, settings, db):
        qasid("connectors", "add", "smpp", "zain", "--host", "smsc.example", "--system-id", "qasid",
              "--password", "s3cr3t")  # fmt: skip
        kind, raw = stored(db, "zain")
        with pytest.raises(InvalidRequest, match="cannot open"):
            registry.config_for(kind, raw, Vault(b"another-server-secret-of-32-characters"))
        settings.secret_key_file.write_text("a-new-server-secret-after-the-old-one-was-lost\n")
        refused = qasid("connectors", "set", "zain", "window=50", ok=False)
        assert "is not the one this gateway's database was set up with" in refused
        assert "QASID_SECRET_KEY" in refused
        assert stored(db, "zain")[1] == raw
        # The old secret is lost: the new one becomes the gateway's, and what it sealed is set again.
        assert "is now the gateway's" in qasid("migrate", "--new-server-secret")
        assert "cannot open" in qasid("connectors", "set", "zain", "window=50", ok=False)
        assert stored(db, "zain")[1] == raw
        qasid("connectors", "set", "zain", "password=n3w")
        kind, raw = stored(db, "zain")
        assert registry.config_for(kind, raw, vault()).password == "n3w"

    def test_secrets_stored_plain_by_an_earlier_qasid_work_and_are_sealed_on_request(self, settings, db):
        qasid("connectors", "add", "smsapi", "up", "--base-url", "https://provider.example/smsapi",
              "--key", "upstream-api-key", "--callback-key", "upstream-callback-key")  # fmt: skip
        kind, sealed = stored(db, "up")
        plain = '{"base_url":"https://provider.example/smsapi","key":"upstream-api-key",' \
                '"callback_key":"upstream-callback-key"}'  # fmt: skip
        with db.write() as conn:
            repo = RoutingRepository(conn)
            record = repo.connector("up")
            assert record is not None
            repo.delete_connector(record.id)
            repo.insert_connector(dataclasses.replace(record, config=plain, updated_at=datetime.now(UTC)))
        assert registry.config_for(kind, plain, vault()) == registry.config_for(kind, sealed, vault())
        listed = qasid("connectors", "list")
        assert "1 connector(s) keep secrets stored plain" in listed
        assert "upstream-api-key" not in listed
        assert qasid("connectors", "seal") == "up: key, callback_key\nsealed the secrets of 1 connector(s)\n"
        _, now_sealed = stored(db, "up")
        assert "upstream-api-key" not in now_sealed
        assert "upstream-callback-key" not in now_sealed
        assert registry.config_for(kind, now_sealed, vault()) == registry.config_for(kind, plain, vault())
        assert "keep secrets stored plain" not in qasid("connectors", "list")
        assert "sealed the secrets of 0 connector(s)" in qasid("connectors", "seal")

    def test_a_command_never_makes_a_second_server_secret(self, settings, db):
        """Run from a directory without the gateway's secret file, a command that seals refuses,
        instead of making a new secret the gateway could not open what it sealed with."""
        settings.secret_key_file.unlink()
        refused = qasid("connectors", "add", "smpp", "zain", "--host", "smsc.example", "--system-id", "qasid",
                        "--password", "s3cr3t", ok=False)  # fmt: skip
        assert "no server secret" in refused
        assert str(settings.secret_key_file) in refused
        assert not settings.secret_key_file.exists()
        assert "zain" not in qasid("connectors", "list")
        assert "no server secret" in qasid("webhooks", "rotate", "whe_x", ok=False)

    def test_migrate_makes_the_server_secret_once(self, settings, db):
        settings.secret_key_file.unlink()
        assert f"server secret made: {settings.secret_key_file}" in qasid("migrate")
        made = settings.secret_key_file.read_text()
        assert "server secret made" not in qasid("migrate")
        assert settings.secret_key_file.read_text() == made
        qasid("connectors", "add", "smpp", "zain", "--host", "smsc.example", "--system-id", "qasid",
              "--password", "s3cr3t")  # fmt: skip
        kind, raw = stored(db, "zain")
        assert registry.config_for(kind, raw, vault()).password == "s3cr3t"


class TestOneServerSecret:
    """Every process of a gateway must read the one server secret its data is keyed with: the
    database keeps its fingerprint, and a process with another refuses to start."""

    OTHER = "another-server-secret-of-at-least-32-characters"

    async def test_a_gateway_with_another_secret_refuses_to_start_and_the_right_one_starts(
        self, fast_settings, db
    ):
        async with LifespanManager(create_app(fast_settings, role="serve")):
            pass  # the first start records the secret's fingerprint
        with db.read() as conn:
            (recorded,) = conn.execute(select(server_secret_check.c.fingerprint)).one()
        secret = fast_settings.secret_key_file.read_text().strip()
        assert recorded == fingerprint(secret.encode())
        assert secret not in recorded
        other = fast_settings.model_copy(update={"secret_key": SecretStr(self.OTHER)})
        for role in ("serve", "api", "worker"):
            with pytest.raises(BaseException) as caught:  # noqa: PT011 - the lifespan wraps it in a group
                async with LifespanManager(create_app(other, role=role)):
                    pass
            told = "".join(traceback.format_exception(caught.value))
            assert "the server secret read from QASID_SECRET_KEY is not the one" in told
        async with LifespanManager(create_app(fast_settings, role="api")):
            pass

    def test_a_command_with_another_secret_refuses_and_writes_nothing(self, settings, db, monkeypatch):
        qasid("migrate")
        monkeypatch.setenv("QASID_SECRET_KEY", self.OTHER)
        get_settings.cache_clear()
        refused = qasid("webhooks", "add", "acc_x", "https://example.com/h", ok=False)
        assert "is not the one this gateway's database was set up with" in refused
        assert "qasid migrate --new-server-secret" in refused
        refused = qasid("connectors", "add", "smpp", "zain", "--host", "smsc.example", "--system-id", "q",
                        "--password", "s3cr3t", ok=False)  # fmt: skip
        assert "is not the one" in refused
        assert "zain" not in qasid("connectors", "list")
        for command in ("serve", "api", "worker"):  # refused in a line, before anything starts
            refused = qasid(command, ok=False)
            assert refused.startswith("error: the server secret read from QASID_SECRET_KEY is not the one")


class TestSimulatorInbox:
    async def test_the_inbox_shows_what_reached_the_phones(self, gateway, operator, db):
        http, app = gateway
        await running_simulator(app, db)
        customer = operator.customer()
        body = {"to": "07700000001", "text": "Your code is 5555", "sender": "Qasid"}
        await http.post("/v1/messages", json=body, headers=customer.headers)
        await wait_for(lambda: "Your code is 5555" in qasid("simulator", "inbox"))
        assert "+9647700000001  from Qasid: Your code is 5555" in qasid(
            "simulator", "inbox", "--to", "07700000001"
        )
        assert qasid("simulator", "inbox", "--to", "07700000009").strip() == ""


class TestSchema:
    def test_serving_an_unmigrated_database_says_to_migrate(self, tmp_path, monkeypatch):
        monkeypatch.setenv("QASID_DATABASE_URL", f"sqlite:///{tmp_path / 'empty.db'}")
        get_settings.cache_clear()
        try:
            assert "run `qasid migrate`" in qasid("serve", "--port", "0", ok=False)
        finally:
            get_settings.cache_clear()
