"""Which addresses webhooks may reach: public ones, and networks the operator allows."""

from __future__ import annotations

import pytest

from qasid.webhooks.guard import AddressPolicy, networks

REFUSED = {
    "127.0.0.1": "loopback",
    "127.8.9.10": "loopback",
    "::1": "loopback",
    "::ffff:127.0.0.1": "loopback",  # IPv4-mapped IPv6 is checked as the IPv4 address it is
    "10.1.2.3": "private",
    "172.16.0.1": "private",
    "192.168.1.1": "private",
    "fd00::1": "private",
    "169.254.169.254": "link-local",  # the cloud metadata service
    "fe80::1": "link-local",
    "100.64.0.1": "not a public address",  # carrier-grade NAT
    "0.0.0.0": "unspecified",  # noqa: S104 - an address to refuse, not one to bind
    "224.0.0.1": "multicast",
}
PUBLIC = ["8.8.8.8", "1.1.1.1", "2001:4860:4860::8888", "185.199.108.153"]


class TestAddresses:
    @pytest.mark.parametrize(("address", "kind"), REFUSED.items())
    def test_non_public_addresses_are_refused_with_their_kind(self, address: str, kind: str):
        reason = AddressPolicy().refusal(address)
        assert reason is not None
        assert kind in reason

    @pytest.mark.parametrize("address", PUBLIC)
    def test_public_addresses_pass(self, address: str):
        assert AddressPolicy().refusal(address) is None

    def test_an_allowed_network_opens_only_itself(self):
        policy = AddressPolicy(networks(["127.0.0.1/32", " 10.20.0.0/16 ", ""]))
        assert policy.refusal("127.0.0.1") is None
        assert policy.refusal("10.20.3.4") is None
        assert policy.refusal("127.0.0.2") is not None
        assert policy.refusal("10.21.0.1") is not None

    def test_a_bad_network_is_an_error(self):
        with pytest.raises(ValueError, match="does not appear to be an IPv4 or IPv6 network"):
            networks(["10.0.0.0/33"])


class TestUrls:
    @pytest.mark.parametrize(
        ("url", "problem"),
        [
            ("ftp://example.com/x", "http:// or https://"),
            ("https:///x", "http:// or https://"),
            ("https://user:secret@example.com/x", "user name or password"),
            ("http://example.com:99999/", "not a valid URL"),
            ("http://localhost:8080/x", "loopback"),
            ("http://api.localhost/x", "loopback"),
            ("http://127.0.0.1/x", "loopback"),
            ("http://[::1]:8080/x", "loopback"),
            ("http://169.254.169.254/latest/meta-data/", "link-local"),
            ("https://10.0.0.5/hooks", "private"),
        ],
    )
    def test_what_can_be_told_before_resolving_is_refused_at_once(self, url: str, problem: str):
        found = AddressPolicy().check_url(url)
        assert found is not None
        assert problem in found

    @pytest.mark.parametrize("url", ["https://example.com/hooks", "http://8.8.8.8:8080/x"])
    def test_names_and_public_addresses_pass_until_they_are_resolved(self, url: str):
        assert AddressPolicy().check_url(url) is None
