"""Tests for okta_fake.py: each documented behaviour in OKTA_API_NOTES.md.

Run: python3 -m pytest tests/okta -q
Each test starts its own fake (a child process, stopped by pid at teardown).
"""

import base64
import http.client
import json
import os
import re
import subprocess
import sys
import time
import uuid
from urllib.parse import urlencode, urlsplit

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

HERE = os.path.dirname(os.path.abspath(__file__))
FAKE = os.path.join(HERE, "okta_fake.py")
SSWS = "00fakeSSWSapiTOKENvalue0123456789abcdef"
RS_CLIENT = "0oarsaclient00000001"
ES_CLIENT = "0oaesaclient00000002"
NARROW_CLIENT = "0oanarrowclient00003"
ENG = "00gengineers00000001"
OPS = "00gopsteam0000000002"
JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


# ----------------------------------------------------------------------------- keys

def b64u(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def b64u_dec(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def rsa_jwk(pub, kid):
    n = pub.public_numbers()
    return {"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256",
            "n": b64u(n.n.to_bytes((n.n.bit_length() + 7) // 8, "big")),
            "e": b64u(n.e.to_bytes((n.e.bit_length() + 7) // 8, "big"))}


def ec_jwk(pub, kid):
    n = pub.public_numbers()
    return {"kty": "EC", "kid": kid, "use": "sig", "alg": "ES256", "crv": "P-256",
            "x": b64u(n.x.to_bytes(32, "big")), "y": b64u(n.y.to_bytes(32, "big"))}


@pytest.fixture(scope="module")
def keys():
    return {
        "rsa": rsa.generate_private_key(public_exponent=65537, key_size=2048),
        "ec": ec.generate_private_key(ec.SECP256R1()),
        "other_rsa": rsa.generate_private_key(public_exponent=65537, key_size=2048),
    }


def make_jwt(alg, key, kid, claims):
    """Builds a JWS by hand (no PyJWT): base64url(header).base64url(claims).sig."""
    header = {"alg": alg, "kid": kid, "typ": "JWT"}
    signing_input = (b64u(json.dumps(header).encode()) + "." +
                     b64u(json.dumps(claims).encode())).encode()
    if alg == "RS256":
        sig = key.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
    elif alg == "ES256":
        r, s = decode_dss_signature(key.sign(signing_input, ec.ECDSA(hashes.SHA256())))
        sig = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    else:
        raise ValueError(alg)
    return signing_input.decode() + "." + b64u(sig)


# ----------------------------------------------------------------------------- server

def base_state(keys):
    users = []
    for i in range(25):
        users.append({"id": "00uengineer%09d" % i, "status": "ACTIVE",
                      "profile": {"login": "eng%02d@example.com" % i,
                                  "email": "eng%02d@example.com" % i,
                                  "firstName": "Eng", "lastName": "N%02d" % i,
                                  "displayName": "Engineer %d" % i,
                                  "unixUid": 20000 + i, "unixShell": "/bin/bash"}})
    users.append({"id": "00uopsperson00000001", "status": "SUSPENDED",
                  "profile": {"login": "ops@example.com", "firstName": "O", "lastName": "P"}})
    return {
        "api_tokens": [{"name": "ci", "token": SSWS}],
        "clients": [
            {"client_id": RS_CLIENT, "jwks": {"keys": [rsa_jwk(keys["rsa"].public_key(), "rk1")]},
             "scopes": ["okta.groups.read", "okta.users.read"]},
            {"client_id": ES_CLIENT, "jwks": {"keys": [ec_jwk(keys["ec"].public_key(), "ek1")]},
             "scopes": ["okta.groups.read"]},
            {"client_id": NARROW_CLIENT,
             "public_key_pem": keys["other_rsa"].public_key().public_bytes(
                 serialization.Encoding.PEM,
                 serialization.PublicFormat.SubjectPublicKeyInfo).decode(),
             "scopes": ["okta.users.read"]},
        ],
        "users": users,
        "groups": [
            {"id": ENG, "profile": {"name": "engineers", "description": "All engineers"},
             "members": [u["id"] for u in users[:25]]},
            {"id": OPS, "profile": {"name": "ops"}, "members": ["00uopsperson00000001"]},
            {"id": "00gengineersalumni03", "profile": {"name": "engineers-alumni"}},
        ],
    }


class Fake:
    def __init__(self, tmp_path, state):
        path = tmp_path / "state.json"
        path.write_text(json.dumps(state))
        self.proc = subprocess.Popen([sys.executable, FAKE, "--port", "0", "--state", str(path)],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        m = re.fullmatch(r"LISTENING 127\.0\.0\.1:(\d+)\n", line)
        if not m:
            self.stop()
            raise RuntimeError("bad first line %r; stderr=%s" % (line, self.proc.stderr.read()))
        self.port = int(m.group(1))
        self.org = "http://127.0.0.1:%d" % self.port
        self.token_url = self.org + "/oauth2/v1/token"

    def stop(self):
        if self.proc.poll() is None:
            os.kill(self.proc.pid, 15)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, 9)
                self.proc.wait(5)
        self.proc.stdout.close()
        self.proc.stderr.close()

    def request(self, method, url, headers=None, body=None):
        """Returns (status, headers as list of (name, value), parsed JSON or None)."""
        u = urlsplit(url if url.startswith("http") else self.org + url)
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
        path = u.path + ("?" + u.query if u.query else "")
        if isinstance(body, (dict, list)):
            body = json.dumps(body)
            headers = dict(headers or {}, **{"Content-Type": "application/json"})
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        raw = resp.read()
        conn.close()
        data = json.loads(raw) if raw else None
        return resp.status, resp.getheaders(), data

    def get(self, url, auth=None):
        return self.request("GET", url, {"Authorization": auth} if auth else {})

    def admin(self, method, path, body=None):
        st, _, data = self.request(method, "/__admin__/" + path, body=body)
        assert st < 300, (st, data)
        return data

    def assertion(self, alg, key, kid, client_id, **over):
        now = int(time.time())
        claims = {"iss": client_id, "sub": client_id, "aud": self.token_url,
                  "iat": now, "exp": now + 300, "jti": str(uuid.uuid4())}
        claims.update(over)
        claims = {k: v for k, v in claims.items() if v is not None}
        return make_jwt(alg, key, kid, claims)

    def token(self, assertion, scope="okta.groups.read", extra=None, headers=None):
        form = {"grant_type": "client_credentials", "scope": scope,
                "client_assertion_type": JWT_BEARER, "client_assertion": assertion}
        form.update(extra or {})
        h = {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"}
        h.update(headers or {})
        return self.request("POST", "/oauth2/v1/token", h, urlencode(form))


@pytest.fixture
def fake(tmp_path, keys):
    f = Fake(tmp_path, base_state(keys))
    yield f
    f.stop()


def hdr(headers, name):
    vals = [v for k, v in headers if k.lower() == name.lower()]
    return vals


def links(headers):
    out = {}
    for v in hdr(headers, "Link"):
        for part in v.split(","):
            m = re.match(r'\s*<([^>]+)>;\s*rel="([^"]+)"', part)
            if m:
                out[m.group(2)] = m.group(1)
    return out


def assert_okta_error(data, code):
    assert set(data) == {"errorCode", "errorSummary", "errorLink", "errorId", "errorCauses"}
    assert data["errorCode"] == code and data["errorLink"] == code
    assert isinstance(data["errorCauses"], list) and data["errorId"]


def rs_token(fake, keys, scope="okta.groups.read okta.users.read"):
    st, _, data = fake.token(fake.assertion("RS256", keys["rsa"], "rk1", RS_CLIENT), scope)
    assert st == 200, data
    return data["access_token"]


# ----------------------------------------------------------------------------- paging

def test_paging_25_members_limit_10_follows_link_headers(fake):
    url = "/api/v1/groups/%s/users?limit=10" % ENG
    seen, sizes, pages = [], [], 0
    while url:
        st, h, data = fake.get(url, "SSWS " + SSWS)
        assert st == 200, data
        lk = links(h)
        assert "self" in lk and len(hdr(h, "Link")) == len(lk)  # one Link header per rel
        sizes.append(len(data))
        seen += [u["id"] for u in data]
        url = lk.get("next")
        if url:
            after = dict(p.split("=", 1) for p in urlsplit(url).query.split("&"))["after"]
            assert after not in seen  # opaque, not a user id
            assert "limit=10" in url
        pages += 1
        assert pages < 10
    assert sizes == [10, 10, 5]
    assert len(seen) == len(set(seen)) == 25
    assert seen == sorted(seen)


def test_user_object_shape(fake):
    st, _, data = fake.get("/api/v1/groups/%s/users?limit=1" % ENG, "SSWS " + SSWS)
    assert st == 200
    u = data[0]
    for k in ("id", "status", "created", "activated", "statusChanged", "lastLogin",
              "lastUpdated", "passwordChanged", "type", "profile", "_links"):
        assert k in u
    assert u["id"].startswith("00u")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", u["created"])
    assert u["profile"]["unixUid"] == 20000 and u["profile"]["displayName"] == "Engineer 0"
    assert u["_links"]["self"]["href"] == fake.org + "/api/v1/users/" + u["id"]


def test_server_max_page_size_and_default(fake):
    fake.admin("PATCH", "state", {"settings": {"max_page_size": {"group_members": 7},
                                               "default_page_size": {"group_members": 4}}})
    st, h, data = fake.get("/api/v1/groups/%s/users?limit=10" % ENG, "SSWS " + SSWS)
    assert st == 200 and len(data) == 7
    assert "limit=7" in links(h)["next"]
    st, h, data = fake.get("/api/v1/groups/%s/users" % ENG, "SSWS " + SSWS)
    assert len(data) == 4
    st, _, data = fake.get("/api/v1/groups/%s/users?limit=abc" % ENG, "SSWS " + SSWS)
    assert st == 400 and data["errorCode"] == "E0000001"


def test_foreign_or_forged_cursor_rejected(fake):
    st, h, _ = fake.get("/api/v1/groups/%s/users?limit=2" % ENG, "SSWS " + SSWS)
    nxt = links(h)["next"]
    other = nxt.replace(ENG, OPS)
    st, _, data = fake.get(other, "SSWS " + SSWS)
    assert st == 400 and data["errorCode"] == "E0000001"
    st, _, data = fake.get("/api/v1/groups/%s/users?after=00uengineer000000003" % ENG,
                           "SSWS " + SSWS)
    assert st == 400


# ----------------------------------------------------------------------------- members / lifecycle

def test_deprovisioned_users_stay_in_member_listing(fake):
    st, _, g0 = fake.get("/api/v1/groups/" + ENG, "SSWS " + SSWS)
    uid = "00uengineer000000003"
    _, _, before = fake.get("/api/v1/users/" + uid, "SSWS " + SSWS)
    time.sleep(0.01)
    fake.admin("POST", "users/%s/deactivate" % uid)
    st, _, data = fake.get("/api/v1/groups/%s/users?limit=200" % ENG, "SSWS " + SSWS)
    assert len(data) == 25
    u = next(x for x in data if x["id"] == uid)
    assert u["status"] == "DEPROVISIONED"
    assert u["lastUpdated"] > before["lastUpdated"]
    assert u["statusChanged"] > before["statusChanged"]
    _, _, g1 = fake.get("/api/v1/groups/" + ENG, "SSWS " + SSWS)
    assert g1["lastMembershipUpdated"] == g0["lastMembershipUpdated"]
    fake.admin("POST", "users/%s/reactivate" % uid)
    _, _, u2 = fake.get("/api/v1/users/" + uid, "SSWS " + SSWS)
    assert u2["status"] == "ACTIVE"
    # every status is listed (SUSPENDED member of ops)
    _, _, ops = fake.get("/api/v1/groups/%s/users" % OPS, "SSWS " + SSWS)
    assert [x["status"] for x in ops] == ["SUSPENDED"]


def test_membership_changes_update_lastMembershipUpdated(fake):
    _, _, g0 = fake.get("/api/v1/groups/" + OPS, "SSWS " + SSWS)
    time.sleep(0.01)
    new = fake.admin("POST", "users", {"profile": {"login": "new@example.com",
                                                   "firstName": "N", "lastName": "U",
                                                   "unixUid": 31000},
                                       "groups": [OPS]})
    assert new["id"].startswith("00u") and len(new["id"]) == 20
    _, _, g1 = fake.get("/api/v1/groups/" + OPS, "SSWS " + SSWS)
    assert g1["lastMembershipUpdated"] > g0["lastMembershipUpdated"]
    assert g1["lastUpdated"] == g0["lastUpdated"]  # profile untouched
    _, _, members = fake.get("/api/v1/groups/%s/users" % OPS, "SSWS " + SSWS)
    assert new["id"] in [m["id"] for m in members]
    time.sleep(0.01)
    fake.admin("DELETE", "groups/%s/members/%s" % (OPS, new["id"]))
    _, _, g2 = fake.get("/api/v1/groups/" + OPS, "SSWS " + SSWS)
    assert g2["lastMembershipUpdated"] > g1["lastMembershipUpdated"]
    time.sleep(0.01)
    fake.admin("PATCH", "groups/" + OPS, {"profile": {"description": "on call"}})
    _, _, g3 = fake.get("/api/v1/groups/" + OPS, "SSWS " + SSWS)
    assert g3["lastUpdated"] > g2["lastUpdated"]
    assert g3["lastMembershipUpdated"] == g2["lastMembershipUpdated"]
    time.sleep(0.01)
    fake.admin("PATCH", "users/" + new["id"], {"profile": {"unixShell": "/bin/zsh"}})
    _, _, u = fake.get("/api/v1/users/" + new["id"], "SSWS " + SSWS)
    assert u["profile"]["unixShell"] == "/bin/zsh" and u["lastUpdated"] > new["lastUpdated"]


# ----------------------------------------------------------------------------- groups

def test_group_get_search_and_q(fake):
    st, h, g = fake.get("/api/v1/groups/" + ENG, "SSWS " + SSWS)
    assert st == 200
    assert g["type"] == "OKTA_GROUP" and g["objectClass"] == ["okta:user_group"]
    assert g["profile"] == {"name": "engineers", "description": "All engineers"}
    for k in ("created", "lastUpdated", "lastMembershipUpdated"):
        assert k in g
    assert g["_links"]["users"]["href"] == fake.org + "/api/v1/groups/%s/users" % ENG
    assert hdr(h, "X-Rate-Limit-Limit") == ["1000"]  # /api/v1/groups/{id} bucket

    q = urlencode({"search": 'profile.name eq "engineers"'})
    st, h, data = fake.get("/api/v1/groups?" + q, "SSWS " + SSWS)
    assert st == 200 and [x["id"] for x in data] == [ENG]
    assert hdr(h, "X-Rate-Limit-Limit") == ["500"]

    # q: name prefix, exact match first, never paged (no next link even with limit=1)
    st, h, data = fake.get("/api/v1/groups?q=engineers&limit=1", "SSWS " + SSWS)
    assert [x["id"] for x in data] == [ENG] and "next" not in links(h)

    # sw search pages
    q = urlencode({"search": 'profile.name sw "eng"', "limit": 1})
    st, h, data = fake.get("/api/v1/groups?" + q, "SSWS " + SSWS)
    assert len(data) == 1 and "next" in links(h)
    st, h2, data2 = fake.get(links(h)["next"], "SSWS " + SSWS)
    assert len(data2) == 1 and data2[0]["id"] != data[0]["id"] and "next" not in links(h2)
    assert "search=" in links(h)["next"]

    st, _, data = fake.get("/api/v1/groups?expand=stats&" + urlencode(
        {"filter": 'id eq "%s"' % ENG}), "SSWS " + SSWS)
    assert data[0]["_embedded"]["stats"]["usersCount"] == 25

    st, _, data = fake.get("/api/v1/groups/00gnosuchgroup000000", "SSWS " + SSWS)
    assert st == 404
    assert_okta_error(data, "E0000007")
    st, _, data = fake.get("/api/v1/groups/00gnosuchgroup000000/users", "SSWS " + SSWS)
    assert st == 404
    st, _, data = fake.get("/api/v1/groups?" + urlencode({"search": "profile.name eq"}),
                           "SSWS " + SSWS)
    assert st == 400


def test_search_eq_startswith_toggle(fake):
    fake.admin("PATCH", "state", {"settings": {"search_eq_startswith": True}})
    q = urlencode({"search": 'profile.name eq "engineers"'})
    _, _, data = fake.get("/api/v1/groups?" + q, "SSWS " + SSWS)
    assert {x["profile"]["name"] for x in data} == {"engineers", "engineers-alumni"}


# ----------------------------------------------------------------------------- SSWS

def test_ssws_ok_and_bad_token(fake):
    st, _, _ = fake.get("/api/v1/groups", "SSWS " + SSWS)
    assert st == 200
    st, h, data = fake.get("/api/v1/groups", "SSWS 00notTheToken")
    assert st == 401
    assert_okta_error(data, "E0000011")
    assert data["errorSummary"] == "Invalid token provided"
    assert hdr(h, "X-Rate-Limit-Remaining")
    st, _, data = fake.get("/api/v1/groups")
    assert st == 401 and data["errorCode"] == "E0000011"
    st, _, data = fake.get("/api/v1/groups", "Bearer " + SSWS)  # SSWS value as Bearer
    assert st == 401


def test_revoke_ssws_token(fake):
    fake.admin("POST", "revoke", {"token": SSWS})
    st, _, data = fake.get("/api/v1/groups", "SSWS " + SSWS)
    assert st == 401 and data["errorCode"] == "E0000011"


# ----------------------------------------------------------------------------- OAuth

def test_client_credentials_rs256(fake, keys):
    st, h, data = fake.token(fake.assertion("RS256", keys["rsa"], "rk1", RS_CLIENT),
                             "okta.groups.read okta.users.read")
    assert st == 200, data
    assert data["token_type"] == "Bearer" and data["expires_in"] == 3600
    assert data["scope"] == "okta.groups.read okta.users.read"
    assert data["access_token"].count(".") == 2
    st, _, members = fake.get("/api/v1/groups/%s/users?limit=3" % ENG,
                              "Bearer " + data["access_token"])
    assert st == 200 and len(members) == 3
    st, _, _ = fake.get("/api/v1/users/eng01@example.com", "Bearer " + data["access_token"])
    assert st == 200


def test_client_credentials_es256(fake, keys):
    st, _, data = fake.token(fake.assertion("ES256", keys["ec"], "ek1", ES_CLIENT))
    assert st == 200, data
    st, _, _ = fake.get("/api/v1/groups/" + ENG, "Bearer " + data["access_token"])
    assert st == 200
    # an ES256 client cannot present an RS256 assertion signed with someone else's key
    st, _, data = fake.token(fake.assertion("RS256", keys["rsa"], "ek1", ES_CLIENT))
    assert st == 401 and data["error"] == "invalid_client"


def test_client_credentials_pem_registered_key(fake, keys):
    st, _, data = fake.token(fake.assertion("RS256", keys["other_rsa"], None, NARROW_CLIENT),
                             "okta.users.read")
    assert st == 200, data
    # scope okta.users.read only -> group endpoints are forbidden (403 E0000006)
    st, h, err = fake.get("/api/v1/groups", "Bearer " + data["access_token"])
    assert st == 403
    assert_okta_error(err, "E0000006")
    assert 'error="insufficient_scope"' in hdr(h, "WWW-Authenticate")[0]


@pytest.mark.parametrize("case", ["wrong_aud", "expired", "exp_over_1h", "iss_ne_sub",
                                  "unknown_client", "wrong_key", "alg_none", "garbage"])
def test_bad_assertion_is_invalid_client(fake, keys, case):
    now = int(time.time())
    a = {
        "wrong_aud": lambda: fake.assertion("RS256", keys["rsa"], "rk1", RS_CLIENT,
                                            aud=fake.org + "/oauth2/default/v1/token"),
        "expired": lambda: fake.assertion("RS256", keys["rsa"], "rk1", RS_CLIENT,
                                          iat=now - 600, exp=now - 5),
        "exp_over_1h": lambda: fake.assertion("RS256", keys["rsa"], "rk1", RS_CLIENT,
                                              exp=now + 3600 + 120),
        "iss_ne_sub": lambda: fake.assertion("RS256", keys["rsa"], "rk1", RS_CLIENT,
                                             sub="someone-else"),
        "unknown_client": lambda: fake.assertion("RS256", keys["rsa"], "rk1",
                                                 "0oaunknown0000000000"),
        "wrong_key": lambda: fake.assertion("RS256", keys["other_rsa"], "rk1", RS_CLIENT),
        "alg_none": lambda: b64u(json.dumps({"alg": "none"}).encode()) + "." + b64u(
            json.dumps({"iss": RS_CLIENT, "sub": RS_CLIENT, "aud": fake.token_url,
                        "exp": now + 60}).encode()) + ".",
        "garbage": lambda: "not-a-jwt",
    }[case]()
    st, _, data = fake.token(a)
    assert st == 401, data
    assert data["error"] == "invalid_client" and data["error_description"]


def test_replayed_jti_is_invalid_client(fake, keys):
    a = fake.assertion("RS256", keys["rsa"], "rk1", RS_CLIENT)
    st, _, _ = fake.token(a)
    assert st == 200
    st, _, data = fake.token(a)
    assert st == 401 and data["error"] == "invalid_client"


def test_token_request_errors(fake, keys):
    a = lambda: fake.assertion("RS256", keys["rsa"], "rk1", RS_CLIENT)  # noqa: E731
    st, _, data = fake.token(a(), scope="okta.apps.read")
    assert st == 400 and data["error"] == "invalid_scope"
    st, _, data = fake.token(a(), extra={"grant_type": "password"})
    assert st == 400 and data["error"] == "unsupported_grant_type"
    st, _, data = fake.request("POST", "/oauth2/v1/token",
                               {"Content-Type": "application/x-www-form-urlencoded"},
                               "grant_type=client_credentials&scope=okta.groups.read")
    assert st == 401 and data == {"error": "invalid_client",
                                  "error_description": "No client credentials found."}
    st, _, data = fake.token(a(), extra={"client_id": ES_CLIENT})
    assert st == 401 and data["error"] == "invalid_client"


def test_access_token_expiry(fake, keys):
    fake.admin("PATCH", "state", {"settings": {"access_token_lifetime": 1}})
    st, _, data = fake.token(fake.assertion("RS256", keys["rsa"], "rk1", RS_CLIENT))
    assert st == 200 and data["expires_in"] == 1
    tok = data["access_token"]
    assert fake.get("/api/v1/groups", "Bearer " + tok)[0] == 200
    time.sleep(1.3)
    st, h, err = fake.get("/api/v1/groups", "Bearer " + tok)
    assert st == 401
    assert_okta_error(err, "E0000011")
    www = hdr(h, "WWW-Authenticate")[0]
    assert www.startswith("Bearer ") and 'error="invalid_token"' in www
    # clock control gives the same without sleeping
    fake.admin("PATCH", "state", {"settings": {"access_token_lifetime": 600}})
    tok = rs_token(fake, keys)
    fake.admin("POST", "clock", {"advance": 601})
    assert fake.get("/api/v1/groups", "Bearer " + tok)[0] == 401


def test_revoke_access_token(fake, keys):
    tok = rs_token(fake, keys)
    tok2 = rs_token(fake, keys)
    assert fake.admin("POST", "revoke", {"token": tok})["revoked"] == 1
    assert fake.get("/api/v1/groups", "Bearer " + tok)[0] == 401
    assert fake.get("/api/v1/groups", "Bearer " + tok2)[0] == 200
    fake.admin("POST", "revoke", {"client_id": RS_CLIENT})
    assert fake.get("/api/v1/groups", "Bearer " + tok2)[0] == 401


def test_dpop_toggle(fake, keys):
    fake.admin("PATCH", "state", {"settings": {"dpop_required": True}})
    st, _, data = fake.token(fake.assertion("RS256", keys["rsa"], "rk1", RS_CLIENT))
    assert st == 400 and data["error"] == "invalid_dpop_proof"


# ----------------------------------------------------------------------------- rate limits

def test_rate_limit_headers_decrease_then_429_until_reset(fake):
    fake.admin("PATCH", "state", {"settings": {"rate_limits": {
        "window_seconds": 2, "limits": {"api_v1_groups_id": 3}}}})
    fake.admin("POST", "rate_limits/reset")
    remaining = []
    for _ in range(3):
        st, h, _ = fake.get("/api/v1/groups/" + ENG, "SSWS " + SSWS)
        assert st == 200
        assert hdr(h, "X-Rate-Limit-Limit") == ["3"]
        remaining.append(int(hdr(h, "X-Rate-Limit-Remaining")[0]))
        reset = int(hdr(h, "X-Rate-Limit-Reset")[0])
    assert remaining == [2, 1, 0]
    assert time.time() - 1 <= reset <= time.time() + 3
    st, h, data = fake.get("/api/v1/groups/" + ENG, "SSWS " + SSWS)
    assert st == 429
    assert_okta_error(data, "E0000047")
    assert data["errorSummary"] == "API call exceeded rate limit due to too many requests."
    assert hdr(h, "X-Rate-Limit-Remaining") == ["0"]
    assert int(hdr(h, "X-Rate-Limit-Reset")[0]) == reset
    # other families are not affected
    assert fake.get("/api/v1/groups", "SSWS " + SSWS)[0] == 200
    time.sleep(max(0.0, reset - time.time()) + 0.2)
    st, h, _ = fake.get("/api/v1/groups/" + ENG, "SSWS " + SSWS)
    assert st == 200 and hdr(h, "X-Rate-Limit-Remaining") == ["2"]


def test_rate_limit_headers_on_token_endpoint(fake, keys):
    st, h, _ = fake.token(fake.assertion("RS256", keys["rsa"], "rk1", RS_CLIENT))
    assert st == 200 and hdr(h, "X-Rate-Limit-Limit") == ["2000"]


# ----------------------------------------------------------------------------- faults

def test_fault_fail_page(fake):
    fake.admin("POST", "faults", {"mode": "fail_page", "nth": 2})
    st, h, p1 = fake.get("/api/v1/groups/%s/users?limit=10" % ENG, "SSWS " + SSWS)
    assert st == 200
    nxt = links(h)["next"]
    st, _, err = fake.get(nxt, "SSWS " + SSWS)
    assert st == 500
    assert_okta_error(err, "E0000009")
    st, _, p2 = fake.get(nxt, "SSWS " + SSWS)  # retry of the same link works
    assert st == 200 and len(p2) == 10 and p2[0]["id"] > p1[-1]["id"]
    assert fake.admin("GET", "faults")["faults"] == []


def test_fault_429_storm(fake):
    fake.admin("POST", "faults", {"mode": "429_storm", "count": 2, "reset_in": 1})
    for _ in range(2):
        st, h, err = fake.get("/api/v1/groups/" + ENG, "SSWS " + SSWS)
        assert st == 429
        assert_okta_error(err, "E0000047")
        assert hdr(h, "X-Rate-Limit-Remaining") == ["0"]
        assert int(hdr(h, "X-Rate-Limit-Reset")[0]) >= int(time.time())
    assert fake.get("/api/v1/groups/" + ENG, "SSWS " + SSWS)[0] == 200


def test_fault_expire_tokens(fake, keys):
    tok = rs_token(fake, keys)
    assert fake.get("/api/v1/groups", "Bearer " + tok)[0] == 200
    assert fake.admin("POST", "faults", {"mode": "expire_tokens"})["expired"] == 1
    st, _, err = fake.get("/api/v1/groups", "Bearer " + tok)
    assert st == 401 and err["errorCode"] == "E0000011"
    tok2 = rs_token(fake, keys)  # new tokens are fine
    assert fake.get("/api/v1/groups", "Bearer " + tok2)[0] == 200


def test_fault_expire_tokens_after_n_requests(fake, keys):
    tok = rs_token(fake, keys)
    fake.admin("POST", "faults", {"mode": "expire_tokens", "after": 2})
    assert fake.get("/api/v1/groups", "Bearer " + tok)[0] == 200
    assert fake.get("/api/v1/groups", "Bearer " + tok)[0] == 200
    st, _, err = fake.get("/api/v1/groups", "Bearer " + tok)
    assert st == 401 and err["errorCode"] == "E0000011"
    assert fake.admin("GET", "faults")["faults"] == []
    tok2 = rs_token(fake, keys)  # the token endpoint is not counted, and new tokens work
    assert fake.get("/api/v1/groups", "Bearer " + tok2)[0] == 200


# ----------------------------------------------------------------------------- /api/v1/users

def test_list_users_omits_deprovisioned_search_and_filter_do_not(fake, keys):
    uid = "00uengineer000000003"
    fake.admin("POST", "users/%s/deactivate" % uid)
    st, h, data = fake.get("/api/v1/users", "SSWS " + SSWS)
    assert st == 200 and uid not in [u["id"] for u in data]
    assert len(data) == 25  # 26 users, one DEPROVISIONED; default limit 200
    assert hdr(h, "X-Rate-Limit-Limit") == ["600"]  # its own bucket (RL)
    for param in ("search", "filter"):
        q = urlencode({param: 'status eq "DEPROVISIONED"'})
        st, _, data = fake.get("/api/v1/users?" + q, "SSWS " + SSWS)
        assert st == 200 and [u["id"] for u in data] == [uid], param
    st, _, data = fake.get("/api/v1/users?" + urlencode({"q": "eng"}), "SSWS " + SSWS)
    assert st == 200 and len(data) == 10 and uid not in [u["id"] for u in data]
    narrow = rs_token(fake, keys, scope="okta.groups.read")
    st, _, err = fake.get("/api/v1/users", "Bearer " + narrow)
    assert st == 403 and err["errorCode"] == "E0000006"


def test_search_users_by_last_updated_as_a_delta(fake):
    st, _, before = fake.get("/api/v1/users?limit=200", "SSWS " + SSWS)
    newest = max(u["lastUpdated"] for u in before)
    fake.admin("POST", "clock", {"advance": 5})
    fake.admin("POST", "users/00uengineer000000004/deactivate")
    fake.admin("PATCH", "users/00uengineer000000005", {"profile": {"unixShell": "/bin/zsh"}})
    fake.admin("PUT", "groups/%s/members/00uopsperson00000001" % ENG)  # not a user change
    q = urlencode({"search": 'lastUpdated gt "%s"' % newest, "limit": 1})
    url, got = "/api/v1/users?" + q, []
    while url:
        st, h, data = fake.get(url, "SSWS " + SSWS)
        assert st == 200, data
        got += [(u["id"], u["status"]) for u in data]
        url = links(h).get("next")
    assert got == [("00uengineer000000004", "DEPROVISIONED"), ("00uengineer000000005", "ACTIVE")]
    # Dates compare as instants, whatever their precision; a bad date is a bad search.
    q = urlencode({"search": 'lastUpdated gt "%s"' % newest.replace(".000Z", "Z")})
    assert len(fake.get("/api/v1/users?" + q, "SSWS " + SSWS)[2]) == 2
    q = urlencode({"search": 'lastUpdated gt "yesterday"'})
    st, _, err = fake.get("/api/v1/users?" + q, "SSWS " + SSWS)
    assert st == 400 and err["errorCode"] == "E0000031"
    # Search values are case-insensitive (USERS); filter values are not.
    q = urlencode({"search": 'profile.login eq "ENG01@EXAMPLE.COM"'})
    assert [u["id"] for u in fake.get("/api/v1/users?" + q, "SSWS " + SSWS)[2]] == \
        ["00uengineer000000001"]
    q = urlencode({"filter": 'profile.login eq "ENG01@EXAMPLE.COM"'})
    assert fake.get("/api/v1/users?" + q, "SSWS " + SSWS)[2] == []


def test_date_header_follows_the_fake_clock(fake):
    import email.utils
    _, h, _ = fake.get("/api/v1/groups", "SSWS " + SSWS)
    before = email.utils.parsedate_to_datetime(hdr(h, "Date")[0]).timestamp()
    fake.admin("POST", "clock", {"advance": 3600})
    _, h, _ = fake.get("/api/v1/groups", "SSWS " + SSWS)
    after = email.utils.parsedate_to_datetime(hdr(h, "Date")[0]).timestamp()
    assert 3590 <= after - before <= 3610
    reset = int(hdr(h, "X-Rate-Limit-Reset")[0])
    assert after <= reset <= after + 61


def test_users_listing_can_fail_halfway(fake):
    fake.admin("POST", "faults", {"mode": "fail_page", "nth": 2, "path_prefix": "/api/v1/users"})
    st, h, _ = fake.get("/api/v1/users?limit=10", "SSWS " + SSWS)
    assert st == 200
    st, _, err = fake.get(links(h)["next"], "SSWS " + SSWS)
    assert st == 500 and err["errorCode"] == "E0000009"


# ----------------------------------------------------------------------------- admin

def test_request_log_has_schemes_and_no_secrets(fake, keys):
    tok = rs_token(fake, keys)
    fake.get("/api/v1/groups?limit=1", "SSWS " + SSWS)
    fake.get("/api/v1/groups?limit=1", "Bearer " + tok)
    fake.get("/api/v1/groups?limit=1", "SSWS wrong-secret-value")
    fake.get("/api/v1/groups?limit=1")
    log = fake.admin("GET", "requests")["requests"]
    assert [(r["method"], r["path"], r["auth"], r["status"]) for r in log] == [
        ("POST", "/oauth2/v1/token", "none", 200),
        ("GET", "/api/v1/groups?limit=1", "SSWS", 200),
        ("GET", "/api/v1/groups?limit=1", "Bearer", 200),
        ("GET", "/api/v1/groups?limit=1", "SSWS", 401),
        ("GET", "/api/v1/groups?limit=1", "none", 401),
    ]
    text = json.dumps(log)
    for secret in (SSWS, tok, "wrong-secret-value"):
        assert secret not in text
    assert log[0]["client_id"] == RS_CLIENT
    assert fake.admin("GET", "requests?since=4")["requests"] == log[4:]


def test_replace_state(fake, keys):
    st = fake.admin("GET", "state")
    st["groups"] = [g for g in st["groups"] if g["id"] == OPS]
    fake.admin("PUT", "state", st)
    assert fake.get("/api/v1/groups/" + ENG, "SSWS " + SSWS)[0] == 404
    _, _, data = fake.get("/api/v1/groups", "SSWS " + SSWS)
    assert [g["id"] for g in data] == [OPS]
