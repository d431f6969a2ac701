#!/usr/bin/env python3
"""A local stand-in for the parts of Okta's Management API that Usher uses.

Run:  okta_fake.py --port 0 --state STATE.json [--org-url URL] [--verbose]

The first line on stdout is ``LISTENING 127.0.0.1:PORT``. Every behaviour here comes
from OKTA_API_NOTES.md (which cites Okta's docs); read that before changing anything.

Okta surface (org URL = http://127.0.0.1:PORT unless the state or --org-url says
otherwise):
  GET  /api/v1/groups                   list, ?limit ?after ?search ?filter ?q ?expand=stats
  GET  /api/v1/groups/{id}              one group
  GET  /api/v1/groups/{id}/users        members (every status), ?limit ?after
  GET  /api/v1/users                    list (no DEPROVISIONED), ?search / ?filter (every
                                        status), ?q, ?limit (max 200) ?after
  GET  /api/v1/users/{idOrLogin}        one user
  POST /oauth2/v1/token                 client_credentials + private_key_jwt
Auth: ``SSWS <api token>`` or ``Bearer <access token>``.

Test control surface on the same port, under /__admin__/ (JSON in, JSON out; never
rate limited, never logged):
  GET    /__admin__/health
  GET    /__admin__/state        PUT (replace)   PATCH (merge, see _admin_patch_state)
  POST   /__admin__/users        PATCH/DELETE /__admin__/users/{id}
  POST   /__admin__/users/{id}/deactivate | /reactivate  (optional body {"status": ...})
  POST   /__admin__/groups       PATCH/DELETE /__admin__/groups/{id}
  PUT    /__admin__/groups/{gid}/members/{uid}   DELETE same
  POST   /__admin__/revoke       {"token": T} | {"client_id": C} | {"api_token_name": N}
                                  | {"all_access_tokens": true}
  POST   /__admin__/faults       {"mode":"fail_page","nth":N[,"path_prefix":P]}
                                  {"mode":"429_storm","count":N[,"reset_in":S][,"path_prefix":P]}
                                  {"mode":"expire_tokens"[,"after":N]}  (N: after N more
                                  API requests, not counting the token endpoint)
  GET    /__admin__/faults       DELETE /__admin__/faults
  GET    /__admin__/requests[?since=K]   DELETE /__admin__/requests
  POST   /__admin__/clock        {"advance": S} | {"offset": S}
  POST   /__admin__/rate_limits/reset

State file (all keys optional):
  {
    "org_url": "http://127.0.0.1:{port}",
    "api_tokens": ["00abc..."] or [{"name": "ci", "token": "00abc..."}],
    "clients": [{"client_id": "0oa...", "jwks": {"keys": [JWK, ...]} | "jwk": JWK
                 | "public_key_pem": "-----BEGIN PUBLIC KEY-----...",
                 "scopes": ["okta.groups.read", "okta.users.read"],
                 "dpop_required": false}],
    "users":  [{"id": "00u...", "status": "ACTIVE", "profile": {"login": ..., ...},
                ...optional Okta timestamps}],
    "groups": [{"id": "00g...", "profile": {"name": ..., "description": ...},
                "members": ["00u...", ...], "type": "OKTA_GROUP"}],
    "settings": see DEFAULT_SETTINGS
  }
"""

import argparse
import base64
import copy
import datetime
import hashlib
import hmac
import json
import math
import re
import secrets
import string
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, quote, unquote, urlencode, urlsplit

try:  # cryptography is needed only to verify client assertions.
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
except ImportError:  # pragma: no cover
    hashes = None

JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
USER_STATUSES = ("STAGED", "PROVISIONED", "ACTIVE", "RECOVERY", "PASSWORD_EXPIRED",
                 "LOCKED_OUT", "SUSPENDED", "DEPROVISIONED")
GROUP_TYPES = ("OKTA_GROUP", "APP_GROUP", "BUILT_IN")

DEFAULT_SETTINGS = {
    # SVCAPP: "The lifetime for this token is fixed at one hour." Tests shorten it.
    "access_token_lifetime": 3600,
    # SVCAPP: assertion exp "must be a maximum of only an hour in the future".
    "assertion_max_lifetime": 3600,
    "clock_skew": 0,               # leeway (s) on assertion exp/iat checks
    "require_jti": False,          # SVCAPP says jti is optional
    "dpop_required": False,        # org-wide DPoP toggle (per-client toggle too)
    "search_eq_startswith": False,  # SPEC: search "performs a startsWith match"
    "default_page_size": {"group_members": 1000, "groups": 10000, "groups_q": 300,
                          "users": 200, "users_q": 10},
    "max_page_size": {"group_members": None, "groups": 10000, "groups_q": 10000,
                      "users": 200, "users_q": 200},
    "rate_limits": {
        "window_seconds": 60,
        # RL "Management rate limits", Workforce Identity column.
        "limits": {"api_v1_groups": 500, "api_v1_groups_id": 1000, "api_v1_users": 600,
                   "api_v1_users_id": 2000, "oauth2_v1": 2000, "api_v1": 1200},
    },
}

ERRORS = {
    "E0000001": (400, "Api validation failed: {0}"),
    "E0000006": (403, "You do not have permission to perform the requested action"),
    "E0000007": (404, "Not found: {0}"),
    "E0000009": (500, "Internal Server Error"),
    "E0000011": (401, "Invalid token provided"),
    "E0000022": (405, "The endpoint does not support the provided HTTP method"),
    "E0000031": (400, "Invalid search criteria."),
    "E0000047": (429, "API call exceeded rate limit due to too many requests."),
}

ALNUM = string.ascii_letters + string.digits


def new_id(prefix, n=20):
    return prefix + "".join(secrets.choice(ALNUM) for _ in range(n - len(prefix)))


def iso(t):
    if t is None:
        return None
    ms = int(round((t - math.floor(t)) * 1000)) % 1000
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(math.floor(t))) + ".%03dZ" % ms


def b64u_dec(s):
    if not isinstance(s, str) or not re.fullmatch(r"[A-Za-z0-9_-]*", s):
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def b64u_enc(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def deep_merge(base, over):
    out = copy.deepcopy(base)
    for k, v in (over or {}).items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


class ApiError(Exception):
    """An Okta-shaped error (errorCode body)."""

    def __init__(self, code, arg="", headers=None, status=None, causes=None):
        super().__init__(code)
        self.code = code
        st, summary = ERRORS[code]
        self.status = status or st
        self.summary = summary.replace("{0}", arg) if "{0}" in summary else summary
        self.headers = headers or {}
        self.causes = causes or []


class OAuthError(Exception):
    """An RFC 6749-shaped error ({error, error_description}) from /oauth2/v1/token."""

    def __init__(self, status, error, description):
        super().__init__(error)
        self.status, self.error, self.description = status, error, description


class AdminError(Exception):
    def __init__(self, status, message):
        super().__init__(message)
        self.status, self.message = status, message


# --------------------------------------------------------------------------- keys/JWT

_ALGS = {
    "RS256": ("RSA", "SHA256", None), "RS384": ("RSA", "SHA384", None),
    "RS512": ("RSA", "SHA512", None),
    "ES256": ("EC", "SHA256", ("P-256", 32)), "ES384": ("EC", "SHA384", ("P-384", 48)),
    "ES512": ("EC", "SHA512", ("P-521", 66)),
}


def _hash(name):
    return getattr(hashes, name)()


def _curve(name):
    return {"P-256": ec.SECP256R1(), "P-384": ec.SECP384R1(), "P-521": ec.SECP521R1()}[name]


def load_client_keys(c):
    """Returns [(kid or None, public key object, jwk alg or None)]."""
    if hashes is None:
        raise RuntimeError("python 'cryptography' is required for OAuth clients")
    out = []
    jwks = []
    if "jwks" in c:
        jwks = list(c["jwks"].get("keys", []))
    if "jwk" in c:
        jwks.append(c["jwk"])
    for jwk in jwks:
        kty = jwk.get("kty")
        if kty == "RSA":
            n = int.from_bytes(b64u_dec(jwk["n"]), "big")
            e = int.from_bytes(b64u_dec(jwk["e"]), "big")
            key = rsa.RSAPublicNumbers(e, n).public_key()
        elif kty == "EC":
            x = int.from_bytes(b64u_dec(jwk["x"]), "big")
            y = int.from_bytes(b64u_dec(jwk["y"]), "big")
            key = ec.EllipticCurvePublicNumbers(x, y, _curve(jwk["crv"])).public_key()
        else:
            raise ValueError("unsupported JWK kty %r" % kty)
        out.append((jwk.get("kid"), key, jwk.get("alg")))
    pems = c.get("public_key_pem")
    if pems:
        for pem in ([pems] if isinstance(pems, str) else pems):
            out.append((None, serialization.load_pem_public_key(pem.encode()), None))
    return out


def verify_jws(alg, key, signing_input, sig):
    kty, hname, ecinfo = _ALGS[alg]
    try:
        if kty == "RSA":
            if not isinstance(key, rsa.RSAPublicKey):
                return False
            key.verify(sig, signing_input, padding.PKCS1v15(), _hash(hname))
            return True
        if not isinstance(key, ec.EllipticCurvePublicKey):
            return False
        crv, size = ecinfo
        if key.curve.name != _curve(crv).name or len(sig) != 2 * size:
            return False
        r = int.from_bytes(sig[:size], "big")
        s = int.from_bytes(sig[size:], "big")
        key.verify(encode_dss_signature(r, s), signing_input, ec.ECDSA(_hash(hname)))
        return True
    except InvalidSignature:
        return False


# --------------------------------------------------------------------------- filters

_TOKEN_RE = re.compile(r'\s*(?:(\()|(\))|("(?:[^"\\]|\\.)*")|([A-Za-z_][A-Za-z0-9_.$]*)|(-?\d+(?:\.\d+)?))')
_OPS = ("eq", "ne", "sw", "co", "pr", "gt", "ge", "lt", "le")


def parse_filter(expr):
    """SCIM-ish filter (DESIGN "Filtering"): attr op value, and/or, parentheses.

    Returns a predicate f(obj, eq_startswith) -> bool. Raises ValueError."""
    toks = []
    pos = 0
    expr = expr.strip()
    while pos < len(expr):
        m = _TOKEN_RE.match(expr, pos)
        if not m or m.end() == pos:
            raise ValueError("bad token at %d" % pos)
        pos = m.end()
        if m.group(1):
            toks.append(("(", None))
        elif m.group(2):
            toks.append((")", None))
        elif m.group(3):
            toks.append(("val", json.loads(m.group(3))))
        elif m.group(4):
            w = m.group(4)
            lw = w.lower()
            if lw in ("and", "or"):
                toks.append((lw, None))
            elif lw in _OPS:
                toks.append(("op", lw))
            elif lw in ("true", "false"):
                toks.append(("val", lw == "true"))
            elif lw == "null":
                toks.append(("val", None))
            else:
                toks.append(("attr", w))
        else:
            toks.append(("val", json.loads(m.group(5))))
    i = [0]

    def peek():
        return toks[i[0]] if i[0] < len(toks) else (None, None)

    def take(kind):
        t = peek()
        if t[0] != kind:
            raise ValueError("expected %s" % kind)
        i[0] += 1
        return t[1]

    def p_or():
        left = p_and()
        while peek()[0] == "or":
            i[0] += 1
            right = p_and()
            left = (lambda a, b: lambda o, s: a(o, s) or b(o, s))(left, right)
        return left

    def p_and():
        left = p_atom()
        while peek()[0] == "and":
            i[0] += 1
            right = p_atom()
            left = (lambda a, b: lambda o, s: a(o, s) and b(o, s))(left, right)
        return left

    def p_atom():
        if peek()[0] == "(":
            i[0] += 1
            inner = p_or()
            take(")")
            return inner
        attr = take("attr")
        op = take("op")
        if op == "pr":
            return lambda o, s: resolve(o, attr) not in (None, "", [], {})
        val = take("val")
        return make_cmp(attr, op, val)

    pred = p_or()
    if i[0] != len(toks):
        raise ValueError("trailing tokens")
    return pred


def resolve(obj, path):
    cur = obj
    for part in path.split("."):
        if isinstance(cur, dict) and part in cur:
            cur = cur[part]
        else:
            return None
    return cur


# Top-level timestamps of users and groups: compared as instants, not as strings (DESIGN
# "Filtering" gives dates as "yyyy-MM-dd'T'HH:mm:ss.SSSZ").
DATE_ATTRS = ("created", "activated", "statusChanged", "lastLogin", "lastUpdated",
              "passwordChanged", "lastMembershipUpdated")


def parse_time(value):
    """An ISO 8601 / RFC 3339 timestamp (with Z or an offset) as epoch seconds, or None."""
    if not isinstance(value, str):
        return None
    try:
        return datetime.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def make_cmp(attr, op, val):
    """A predicate f(obj, mode). mode: True/False (the old eq_startswith flag) or a dict with
    eq_startswith (eq behaves as sw) and ci (string values compare case-insensitively)."""
    is_date = attr in DATE_ATTRS
    if is_date and isinstance(val, str):
        when = parse_time(val)
        if when is None:
            raise ValueError("bad date %r" % val)
        val = when

    def f(o, mode):
        if isinstance(mode, bool):
            mode = {"eq_startswith": mode}
        a = resolve(o, attr)
        v = val
        if is_date:
            a = parse_time(a)
        elif mode.get("ci"):
            a = a.lower() if isinstance(a, str) else a
            v = v.lower() if isinstance(v, str) else v
        if op == "eq":
            if mode.get("eq_startswith") and isinstance(a, str) and isinstance(v, str):
                return a.startswith(v)
            return a == v
        if op == "ne":
            return a != v
        if a is None:
            return False
        if op == "sw":
            return isinstance(a, str) and a.startswith(str(v))
        if op == "co":
            return isinstance(a, str) and str(v) in a
        try:
            return {"gt": a > v, "ge": a >= v, "lt": a < v, "le": a <= v}[op]
        except TypeError:
            return False
    return f


# --------------------------------------------------------------------------- store

class Store:
    """All mutable fake state. Every access happens under self.lock."""

    def __init__(self, state, org_url):
        self.lock = threading.RLock()
        self.clock_offset = 0.0
        self.secret = secrets.token_bytes(32)
        self.access_tokens = {}   # token -> {client_id, scopes, exp, revoked, jti}
        self.used_jtis = {}       # (client_id, jti) -> exp
        self.buckets = {}         # family -> {"start": t, "count": n}
        self.faults = []
        self.fault_seq = 0
        self.requests = []
        self.default_org_url = org_url
        self.load(state)

    def now(self):
        return time.time() + self.clock_offset

    def expire_access_tokens(self, now):
        n = 0
        for v in self.access_tokens.values():
            if v["exp"] > now:
                v["exp"] = now - 1
                n += 1
        return n

    # -- loading -----------------------------------------------------------------
    def load(self, state):
        state = state or {}
        now = self.now()
        org = state.get("org_url") or self.default_org_url
        self.org_url = org.replace("{port}", self.default_org_url.rsplit(":", 1)[-1]).rstrip("/")
        self.settings = deep_merge(DEFAULT_SETTINGS, state.get("settings"))
        self.api_tokens = {}
        for i, t in enumerate(state.get("api_tokens", [])):
            self.add_api_token(t, i)
        self.clients = {}
        for c in state.get("clients", []):
            self.add_client(c)
        self.users = {}
        for u in state.get("users", []):
            self.put_user(u, now)
        self.groups = {}
        for g in state.get("groups", []):
            self.put_group(g, now)
        self.buckets = {}

    def add_api_token(self, t, i=0):
        if isinstance(t, str):
            t = {"token": t}
        if not t.get("token"):
            raise AdminError(400, "api token without 'token'")
        self.api_tokens[t["token"]] = {"name": t.get("name") or "token-%d" % i,
                                       "revoked": bool(t.get("revoked"))}

    def add_client(self, c):
        cid = c.get("client_id")
        if not cid:
            raise AdminError(400, "client without client_id")
        try:
            keys = load_client_keys(c)
        except Exception as e:  # noqa: BLE001
            raise AdminError(400, "client %s: bad key: %s" % (cid, e))
        if not keys:
            raise AdminError(400, "client %s has no public key" % cid)
        self.clients[cid] = {"client_id": cid, "keys": keys, "raw": copy.deepcopy(c),
                             "scopes": list(c.get("scopes", [])),
                             "dpop_required": bool(c.get("dpop_required"))}

    def put_user(self, u, now):
        if not isinstance(u, dict) or not isinstance(u.get("profile"), dict):
            raise AdminError(400, "user needs a profile object")
        prof = copy.deepcopy(u["profile"])
        if not prof.get("login"):
            raise AdminError(400, "user profile needs 'login'")
        prof.setdefault("email", prof["login"])
        status = u.get("status", "ACTIVE")
        if status not in USER_STATUSES:
            raise AdminError(400, "bad user status %r" % status)
        uid = u.get("id") or new_id("00u")
        created = u.get("created", iso(now))
        rec = {
            "id": uid,
            "status": status,
            "created": created,
            "activated": u.get("activated", None if status == "STAGED" else created),
            "statusChanged": u.get("statusChanged", created),
            "lastLogin": u.get("lastLogin"),
            "lastUpdated": u.get("lastUpdated", created),
            "passwordChanged": u.get("passwordChanged"),
            "type": u.get("type", {"id": "oty1defaultusertype0"}),
            "profile": prof,
        }
        self.users[uid] = rec
        return rec

    def put_group(self, g, now):
        if not isinstance(g, dict) or not isinstance(g.get("profile"), dict) \
                or not g["profile"].get("name"):
            raise AdminError(400, "group needs profile.name")
        gid = g.get("id") or new_id("00g")
        gtype = g.get("type", "OKTA_GROUP")
        if gtype not in GROUP_TYPES:
            raise AdminError(400, "bad group type %r" % gtype)
        members = list(g.get("members", []))
        for m in members:
            if m not in self.users:
                raise AdminError(400, "group %s member %s is not a user" % (gid, m))
        created = g.get("created", iso(now))
        rec = {
            "id": gid,
            "created": created,
            "lastUpdated": g.get("lastUpdated", created),
            "lastMembershipUpdated": g.get("lastMembershipUpdated", created),
            "objectClass": g.get("objectClass", ["okta:user_group"]),
            "type": gtype,
            "profile": copy.deepcopy(g["profile"]),
            "members": set(members),
        }
        self.groups[gid] = rec
        return rec

    def export(self):
        return {
            "org_url": self.org_url,
            "api_tokens": [{"name": v["name"], "token": k, "revoked": v["revoked"]}
                           for k, v in self.api_tokens.items()],
            "clients": [c["raw"] for c in self.clients.values()],
            "users": [copy.deepcopy(u) for u in self.users.values()],
            "groups": [dict((k, v) for k, v in g.items() if k != "members") |
                       {"members": sorted(g["members"])} for g in self.groups.values()],
            "settings": copy.deepcopy(self.settings),
        }

    # -- Okta views --------------------------------------------------------------
    def user_view(self, u):
        out = copy.deepcopy(u)
        out["credentials"] = {"provider": {"type": "OKTA", "name": "OKTA"}}
        out["_links"] = {"self": {"href": "%s/api/v1/users/%s" % (self.org_url, u["id"])}}
        return out

    def group_view(self, g, stats=False):
        out = dict((k, copy.deepcopy(v)) for k, v in g.items() if k != "members")
        base = self.org_url
        out["_links"] = {
            "logo": [
                {"name": "medium", "href": base + "/img/logos/groups/okta-medium.png",
                 "type": "image/png"},
                {"name": "large", "href": base + "/img/logos/groups/okta-large.png",
                 "type": "image/png"},
            ],
            "users": {"href": "%s/api/v1/groups/%s/users" % (base, g["id"])},
            "apps": {"href": "%s/api/v1/groups/%s/apps" % (base, g["id"])},
        }
        if stats:
            out["_embedded"] = {"stats": {"usersCount": len(g["members"])}}
        return out

    # -- membership helpers ------------------------------------------------------
    def set_members(self, g, new_members, now):
        new_members = set(new_members)
        for m in new_members:
            if m not in self.users:
                raise AdminError(400, "member %s is not a user" % m)
        if new_members != g["members"]:
            g["members"] = new_members
            g["lastMembershipUpdated"] = iso(now)

    # -- cursors -----------------------------------------------------------------
    def make_cursor(self, scope, key):
        payload = json.dumps(key, separators=(",", ":")).encode()
        mac = hmac.new(self.secret, scope.encode() + b"\0" + payload, hashlib.sha256).digest()[:9]
        return b64u_enc(mac + payload)

    def read_cursor(self, scope, cursor):
        try:
            raw = b64u_dec(cursor)
            mac, payload = raw[:9], raw[9:]
            good = hmac.new(self.secret, scope.encode() + b"\0" + payload,
                            hashlib.sha256).digest()[:9]
            if not hmac.compare_digest(mac, good):
                raise ValueError
            return json.loads(payload)
        except Exception:  # noqa: BLE001
            raise ApiError("E0000001", "after", causes=[
                {"errorSummary": "after: the cursor is not valid for this resource"}])


# --------------------------------------------------------------------------- handler

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def version_string(self):
        return "okta-fake"

    def date_time_string(self, timestamp=None):
        # The Date header follows the fake's clock (POST /__admin__/clock), as every timestamp
        # and rate-limit reset does: clients may read resets and changes against it.
        if timestamp is None:
            timestamp = self.store.now()
        return super().date_time_string(timestamp)

    # quiet unless --verbose
    def log_message(self, fmt, *args):
        if self.server.verbose:
            sys.stderr.write("okta_fake: " + (fmt % args) + "\n")

    @property
    def store(self):
        return self.server.store

    # -- plumbing ----------------------------------------------------------------
    def _body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n > 0 else b""

    def _send(self, status, body, headers=None, ctype="application/json"):
        data = b"" if body is None else (body if isinstance(body, bytes)
                                         else json.dumps(body).encode())
        self.send_response(status)
        hs = list((headers or {}).items()) if isinstance(headers, dict) else list(headers or [])
        for k, v in hs:
            self.send_header(k, str(v))
        if data or status not in (204, 304):
            self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if data:
            self.wfile.write(data)
        self._status = status

    def do_GET(self):
        self._dispatch("GET")

    def do_POST(self):
        self._dispatch("POST")

    def do_PUT(self):
        self._dispatch("PUT")

    def do_PATCH(self):
        self._dispatch("PATCH")

    def do_DELETE(self):
        self._dispatch("DELETE")

    def _dispatch(self, method):
        split = urlsplit(self.path)
        path = split.path
        body = self._body()
        if path.startswith("/__admin__/") or path == "/__admin__":
            try:
                with self.store.lock:
                    status, out = self._admin(method, path, split.query, body)
            except AdminError as e:
                status, out = e.status, {"error": e.message}
            except Exception as e:  # noqa: BLE001
                status, out = 500, {"error": "%s: %s" % (type(e).__name__, e)}
            self._send(status, out)
            return
        self._okta(method, path, split.query, body)

    # -- Okta side -----------------------------------------------------------------
    def _okta(self, method, path, query, body):
        st = self.store
        headers = []
        auth_hdr = self.headers.get("Authorization") or ""
        scheme = auth_hdr.split(" ", 1)[0] if auth_hdr else "none"
        entry = {"method": method, "path": self.path, "auth": scheme if scheme in
                 ("SSWS", "Bearer", "DPoP", "none") else "other"}
        family, route = self._route(method, path)
        entry["family"] = family
        ctype = "application/json"
        with st.lock:  # decide under the lock, send after releasing it
            now = st.now()
            try:
                headers = self._rate_headers_and_check(family, path, now)
                if route is None:
                    raise ApiError("E0000007", "Resource not found: %s (Resource)" % path)
                if route == "method":
                    raise ApiError("E0000022")
                name, args = route
                if name != "token":
                    self._deferred_expiry(now)
                if name == "token":
                    ctype = "application/json;charset=UTF-8"
                    status, out, extra = self._token(body, now, entry)
                else:
                    principal = self._authenticate(auth_hdr, path, now)
                    entry["principal"] = principal["label"]
                    status, out, extra = getattr(self, "_api_" + name)(principal, query,
                                                                         now, *args)
                headers += extra
            except ApiError as e:
                status = e.status
                out = {"errorCode": e.code, "errorSummary": e.summary, "errorLink": e.code,
                       "errorId": "oae" + new_id("", 22), "errorCauses": e.causes}
                headers = headers + list(e.headers.items())
            except OAuthError as e:
                status, ctype = e.status, "application/json;charset=UTF-8"
                out = {"error": e.error, "error_description": e.description}
            except Exception as e:  # noqa: BLE001 - a bug in the fake, not Okta behaviour
                import traceback
                traceback.print_exc()
                status = 500
                out = {"errorCode": "E0000009", "errorSummary":
                       "okta_fake internal bug: %s: %s" % (type(e).__name__, e),
                       "errorLink": "E0000009", "errorId": "oaefakebug", "errorCauses": []}
            entry["status"] = status
            entry["t"] = round(now, 3)
            st.requests.append(entry)
        self._send(status, out, headers, ctype)

    def _route(self, method, path):
        """Returns (rate-limit family, route) where route is (name, args), None (404)
        or "method" (405)."""
        parts = [unquote(p) for p in path.split("/") if p]
        if path.rstrip("/") == "/oauth2/v1/token":
            return "oauth2_v1", (("token", ()) if method == "POST" else "method")
        if parts[:2] == ["oauth2", "v1"]:
            return "oauth2_v1", None
        if parts[:2] != ["api", "v1"]:
            return "api_v1", None
        rest = parts[2:]
        if rest == ["groups"]:
            return "api_v1_groups", (("groups", ()) if method == "GET" else "method")
        if len(rest) == 2 and rest[0] == "groups":
            return "api_v1_groups_id", (("group", (rest[1],)) if method == "GET" else "method")
        if len(rest) == 3 and rest[0] == "groups" and rest[2] == "users":
            # RL: "/api/v1/groups except /api/v1/groups/{id}" -> same bucket as the list.
            return "api_v1_groups", (("members", (rest[1],)) if method == "GET" else "method")
        if rest[:1] == ["groups"]:
            return "api_v1_groups", None
        if rest == ["users"]:
            # RL: "Create or list users: only GET or POST to /api/v1/users". POST is not faked.
            return "api_v1_users", (("users", ()) if method == "GET" else "method")
        if len(rest) == 2 and rest[0] == "users":
            return "api_v1_users_id", (("user", (rest[1],)) if method == "GET" else "method")
        return "api_v1", None

    def _rate_headers_and_check(self, family, path, now):
        st = self.store
        # 429_storm fault first: it stands for load elsewhere in the org.
        for f in list(st.faults):
            if f["mode"] == "429_storm" and path.startswith(f.get("path_prefix", "/")):
                f["remaining"] -= 1
                if f["remaining"] <= 0:
                    st.faults.remove(f)
                reset = int(math.ceil(now + float(f.get("reset_in", 1))))
                lim = st.settings["rate_limits"]["limits"].get(family, 0)
                hs = [("X-Rate-Limit-Limit", lim), ("X-Rate-Limit-Remaining", 0),
                      ("X-Rate-Limit-Reset", reset)]
                raise ApiError("E0000047", headers=dict(hs))
        rl = st.settings["rate_limits"]
        limit = int(rl["limits"].get(family, rl["limits"].get("api_v1", 1200)))
        window = float(rl.get("window_seconds", 60))
        b = st.buckets.get(family)
        if b is None or now >= b["start"] + window:
            b = st.buckets[family] = {"start": now, "count": 0}
        reset = int(math.ceil(b["start"] + window))
        if b["count"] >= limit:
            raise ApiError("E0000047", headers={"X-Rate-Limit-Limit": limit,
                                                "X-Rate-Limit-Remaining": 0,
                                                "X-Rate-Limit-Reset": reset})
        b["count"] += 1
        return [("X-Rate-Limit-Limit", limit),
                ("X-Rate-Limit-Remaining", limit - b["count"]),
                ("X-Rate-Limit-Reset", reset)]

    def _deferred_expiry(self, now):
        """Fault expire_tokens with "after": N: the (N+1)th API request from now on finds
        every access token issued until then expired (tokens issued later are not touched)."""
        st = self.store
        for f in list(st.faults):
            if f["mode"] == "expire_tokens":
                if f["seen"] >= f["after"]:
                    st.faults.remove(f)
                    st.expire_access_tokens(now)
                else:
                    f["seen"] += 1

    def _bearer_challenge(self, path, error, desc, scope=None):
        org = self.store.org_url
        parts = ['authorization_uri="%s/oauth2/v1/authorize"' % org, 'realm="%s"' % org]
        if scope:
            parts.append('scope="%s"' % scope)
        parts += ['error="%s"' % error, 'error_description="%s"' % desc,
                  'resource="%s"' % path]
        return "Bearer " + ", ".join(parts)

    def _authenticate(self, auth_hdr, path, now):
        st = self.store
        scheme, _, cred = auth_hdr.partition(" ")
        cred = cred.strip()
        if scheme == "SSWS" and cred:
            t = st.api_tokens.get(cred)
            if t and not t["revoked"]:
                return {"kind": "ssws", "label": "ssws:" + t["name"], "scopes": None}
            raise ApiError("E0000011")
        if scheme.lower() == "bearer" and cred:
            t = st.access_tokens.get(cred)
            if t and not t["revoked"] and now < t["exp"] and t["client_id"] in st.clients:
                return {"kind": "oauth", "label": "client:" + t["client_id"],
                        "scopes": set(t["scopes"])}
            raise ApiError("E0000011", headers={"WWW-Authenticate": self._bearer_challenge(
                path, "invalid_token", "The access token is invalid.")})
        raise ApiError("E0000011")

    def _need_scope(self, principal, path, resource):
        """OAuth principals need okta.<resource>.read (or .manage); SSWS has all."""
        if principal["scopes"] is None:
            return
        if not principal["scopes"] & {"okta.%s.read" % resource, "okta.%s.manage" % resource}:
            raise ApiError("E0000006", headers={"WWW-Authenticate": self._bearer_challenge(
                path, "insufficient_scope",
                "The access token provided does not contain the required scopes.",
                scope="okta.%s.read" % resource)})

    def _paged_fault(self, path):
        st = self.store
        for f in list(st.faults):
            if f["mode"] == "fail_page" and path.startswith(f.get("path_prefix", "/")):
                f["seen"] += 1
                if f["seen"] >= f["nth"]:
                    st.faults.remove(f)
                    raise ApiError("E0000009")

    def _limit(self, qs, kind):
        st = self.store
        default = st.settings["default_page_size"][kind]
        maxv = st.settings["max_page_size"].get(kind)
        raw = qs.get("limit")
        if raw is None:
            lim = default
        else:
            try:
                lim = int(raw)
            except ValueError:
                raise ApiError("E0000001", "limit", causes=[
                    {"errorSummary": "limit: must be an integer"}])
            if lim < 1:
                raise ApiError("E0000001", "limit", causes=[
                    {"errorSummary": "limit: must be greater than 0"}])
        if maxv is not None:
            lim = min(lim, int(maxv))
        return lim

    @staticmethod
    def _qs(query):
        out = {}
        for k, vs in parse_qs(query, keep_blank_values=True).items():
            out[k] = vs[-1]
        return out

    def _paginate(self, items, keyf, scope, path, query, qs, lim, pageable=True):
        st = self.store
        start = 0
        if pageable and qs.get("after"):
            cur = st.read_cursor(scope, qs["after"])
            keys = [keyf(x) for x in items]
            start = next((i for i, k in enumerate(keys) if k > cur), len(items))
        chunk = items[start:start + lim]
        links = [("Link", '<%s%s%s>; rel="self"' % (st.org_url, path,
                                                    "?" + query if query else ""))]
        if pageable and start + lim < len(items):
            params = [(k, v) for k, v in parse_qs(query, keep_blank_values=True).items()
                      if k not in ("after", "limit")]
            flat = [(k, v) for k, vs in params for v in vs]
            flat += [("after", st.make_cursor(scope, keyf(chunk[-1]))), ("limit", str(lim))]
            links.append(("Link", '<%s%s?%s>; rel="next"' % (
                st.org_url, path, urlencode(flat, quote_via=quote))))
        return chunk, links

    # -- API handlers (called with the store lock held) ---------------------------------
    def _api_groups(self, principal, query, now):
        self._need_scope(principal, "/api/v1/groups", "groups")
        st = self.store
        qs = self._qs(query)
        stats = "stats" in qs.get("expand", "").split(",")
        groups = sorted(st.groups.values(), key=lambda g: g["id"])
        path = "/api/v1/groups"
        if qs.get("q") is not None and qs.get("q") != "":
            # GROUPS: "You can't page a query. The default limit for a query is 300."
            q = qs["q"].lower()
            hits = [g for g in groups if g["profile"].get("name", "").lower().startswith(q)]
            hits.sort(key=lambda g: (g["profile"]["name"].lower() != q,
                                     g["profile"]["name"].lower(), g["id"]))
            lim = self._limit(qs, "groups_q")
            self._paged_fault(path)
            chunk, links = self._paginate(hits, lambda g: [g["id"]], "groups", path, query,
                                          qs, lim, pageable=False)
            return 200, [st.group_view(g, stats) for g in chunk], links
        eq_sw = bool(st.settings.get("search_eq_startswith"))
        for param in ("filter", "search"):
            if qs.get(param):
                try:
                    pred = parse_filter(qs[param])
                except ValueError:
                    raise ApiError("E0000031")
                groups = [g for g in groups if pred(st.group_view(g), eq_sw)]
        keyf = lambda g: [g["id"]]  # noqa: E731
        scope = "groups"
        if qs.get("search") and qs.get("sortBy"):
            sb = qs["sortBy"]
            desc = qs.get("sortOrder", "asc").lower() == "desc"
            keyf = lambda g: [str(resolve(g, sb) or ""), g["id"]]  # noqa: E731
            groups.sort(key=keyf, reverse=desc)
            scope = "groups:%s:%s" % (sb, "desc" if desc else "asc")
            if desc:
                # keyset paging on a descending order: compare on inverted keys
                return self._page_desc(groups, keyf, scope, path, query, qs, stats)
        lim = self._limit(qs, "groups")
        self._paged_fault(path)
        chunk, links = self._paginate(groups, keyf, scope, path, query, qs, lim)
        return 200, [st.group_view(g, stats) for g in chunk], links

    def _page_desc(self, groups, keyf, scope, path, query, qs, stats):
        st = self.store
        lim = self._limit(qs, "groups")
        self._paged_fault(path)
        start = 0
        if qs.get("after"):
            cur = st.read_cursor(scope, qs["after"])
            start = next((i for i, g in enumerate(groups) if keyf(g) < cur), len(groups))
        chunk = groups[start:start + lim]
        links = [("Link", '<%s%s?%s>; rel="self"' % (st.org_url, path, query))]
        if start + lim < len(groups):
            flat = [(k, v) for k, vs in parse_qs(query, keep_blank_values=True).items()
                    if k not in ("after", "limit") for v in vs]
            flat += [("after", st.make_cursor(scope, keyf(chunk[-1]))), ("limit", str(lim))]
            links.append(("Link", '<%s%s?%s>; rel="next"' % (
                st.org_url, path, urlencode(flat, quote_via=quote))))
        return 200, [st.group_view(g, stats) for g in chunk], links

    def _api_group(self, principal, query, now, gid):
        path = "/api/v1/groups/" + gid
        self._need_scope(principal, path, "groups")
        g = self.store.groups.get(gid)
        if not g:
            raise ApiError("E0000007", "Resource not found: %s (UserGroup)" % gid)
        stats = "stats" in self._qs(query).get("expand", "").split(",")
        return 200, self.store.group_view(g, stats), []

    def _api_members(self, principal, query, now, gid):
        path = "/api/v1/groups/%s/users" % gid
        self._need_scope(principal, path, "groups")
        st = self.store
        g = st.groups.get(gid)
        if not g:
            raise ApiError("E0000007", "Resource not found: %s (UserGroup)" % gid)
        qs = self._qs(query)
        lim = self._limit(qs, "group_members")
        self._paged_fault(path)
        # DEACT: deactivated users stay members -> every status is listed.
        users = sorted((st.users[u] for u in g["members"] if u in st.users),
                       key=lambda u: u["id"])
        chunk, links = self._paginate(users, lambda u: [u["id"]], "members:" + gid,
                                      "/api/v1/groups/%s/users" % quote(gid, safe=""),
                                      query, qs, lim)
        return 200, [st.user_view(u) for u in chunk], links

    def _api_users(self, principal, query, now):
        """GET /api/v1/users (USERS): no parameter lists every user except DEPROVISIONED ones;
        `search` and `filter` return every status, DEPROVISIONED included; `q` (not
        pageable, default limit 10) omits DEPROVISIONED. `limit` defaults to 200, max 200.
        Search values compare case-insensitively, filter values exactly."""
        path = "/api/v1/users"
        self._need_scope(principal, path, "users")
        st = self.store
        qs = self._qs(query)
        users = sorted(st.users.values(), key=lambda u: u["id"])
        if qs.get("q"):
            q = qs["q"].lower()
            hits = [u for u in users if u["status"] != "DEPROVISIONED" and any(
                str(u["profile"].get(k) or "").lower().startswith(q)
                for k in ("firstName", "lastName", "email"))]
            lim = self._limit(qs, "users_q")
            self._paged_fault(path)
            chunk, links = self._paginate(hits, lambda u: [u["id"]], "users", path, query,
                                          qs, lim, pageable=False)
            return 200, [st.user_view(u) for u in chunk], links
        if qs.get("search") or qs.get("filter"):
            param = "search" if qs.get("search") else "filter"
            try:
                pred = parse_filter(qs[param])
            except ValueError:
                raise ApiError("E0000031")
            mode = {"ci": param == "search"}
            users = [u for u in users if pred(st.user_view(u), mode)]
        else:
            users = [u for u in users if u["status"] != "DEPROVISIONED"]
        lim = self._limit(qs, "users")
        self._paged_fault(path)
        chunk, links = self._paginate(users, lambda u: [u["id"]], "users", path, query, qs, lim)
        return 200, [st.user_view(u) for u in chunk], links

    def _api_user(self, principal, query, now, uid):
        path = "/api/v1/users/" + uid
        self._need_scope(principal, path, "users")
        st = self.store
        u = st.users.get(uid) or next(
            (x for x in st.users.values() if x["profile"].get("login") == uid), None)
        if not u:
            raise ApiError("E0000007", "Resource not found: %s (User)" % uid)
        return 200, st.user_view(u), []

    # -- /oauth2/v1/token -----------------------------------------------------------
    def _token(self, body, now, entry):
        st = self.store
        ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if ctype != "application/x-www-form-urlencoded":
            raise OAuthError(400, "invalid_request",
                             "The request must use Content-Type "
                             "application/x-www-form-urlencoded.")
        try:
            form = parse_qs(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
        except UnicodeDecodeError:
            raise OAuthError(400, "invalid_request", "The request body is not valid.")
        for k, vs in form.items():
            if len(vs) > 1:
                raise OAuthError(400, "invalid_request",
                                 "The request contains duplicate parameters: %s" % k)
        f = {k: vs[0] for k, vs in form.items()}
        assertion = f.get("client_assertion")
        if not assertion and not f.get("client_secret") and \
                not (self.headers.get("Authorization") or "").startswith("Basic "):
            raise OAuthError(401, "invalid_client", "No client credentials found.")
        if not assertion:
            raise OAuthError(401, "invalid_client",
                             "Client authentication failed: only private_key_jwt is "
                             "supported for service apps.")
        if f.get("client_assertion_type") != JWT_BEARER:
            raise OAuthError(400, "invalid_request",
                             "'client_assertion_type' must be '%s'." % JWT_BEARER)
        client = self._verify_assertion(assertion, f.get("client_id"), now, entry)
        if f.get("grant_type") is None:
            raise OAuthError(400, "invalid_request", "'grant_type' is required.")
        if f["grant_type"] != "client_credentials":
            raise OAuthError(400, "unsupported_grant_type",
                             "The authorization grant type is not supported by the "
                             "authorization server.")
        scopes = (f.get("scope") or "").split()
        if not scopes:
            raise OAuthError(400, "invalid_scope",
                             "The authorization server resource does not have any "
                             "configured default scopes, 'scope' must be provided.")
        bad = [s for s in scopes if s not in client["scopes"]]
        if bad:
            raise OAuthError(400, "invalid_scope",
                             "The following scopes are not allowed: %s" % " ".join(bad))
        if st.settings.get("dpop_required") or client["dpop_required"]:
            if not self.headers.get("DPoP"):
                raise OAuthError(400, "invalid_dpop_proof",
                                 "The DPoP proof JWT header is missing.")
            raise OAuthError(400, "invalid_dpop_proof",
                             "DPoP proofs are not implemented by this fake.")
        iss, ajti, aexp = entry.pop("_jti")
        if ajti is not None:
            st.used_jtis[(iss, ajti)] = aexp  # consumed only by a successful request
        lifetime = int(st.settings["access_token_lifetime"])
        jti = "AT." + new_id("", 32)
        claims = {"ver": 1, "jti": jti, "iss": st.org_url, "aud": st.org_url,
                  "iat": int(now), "exp": int(now + lifetime), "cid": client["client_id"],
                  "sub": client["client_id"], "scp": scopes}
        head = b64u_enc(json.dumps({"kid": "okta-fake", "alg": "HS256"}).encode())
        pay = b64u_enc(json.dumps(claims, separators=(",", ":")).encode())
        sig = b64u_enc(hmac.new(st.secret, (head + "." + pay).encode(),
                                hashlib.sha256).digest())
        token = "%s.%s.%s" % (head, pay, sig)
        st.access_tokens[token] = {"client_id": client["client_id"], "scopes": scopes,
                                   "exp": now + lifetime, "revoked": False, "jti": jti}
        return 200, {"token_type": "Bearer", "expires_in": lifetime, "access_token": token,
                     "scope": " ".join(scopes)}, [("Cache-Control", "no-cache, no-store"),
                                                  ("Pragma", "no-cache")]

    def _verify_assertion(self, assertion, form_client_id, now, entry):
        st = self.store

        def bad(desc):
            raise OAuthError(401, "invalid_client", desc)

        parts = assertion.split(".")
        if len(parts) != 3:
            bad("The client_assertion is not a valid JWT.")
        try:
            header = json.loads(b64u_dec(parts[0]))
            claims = json.loads(b64u_dec(parts[1]))
            sig = b64u_dec(parts[2])
        except (ValueError, json.JSONDecodeError):
            bad("The client_assertion is not a valid JWT.")
        if not isinstance(header, dict) or not isinstance(claims, dict):
            bad("The client_assertion is not a valid JWT.")
        iss, sub = claims.get("iss"), claims.get("sub")
        client = st.clients.get(iss) if isinstance(iss, str) else None
        if client is None:
            bad("The client_assertion 'iss' is not a known client_id.")
        entry["client_id"] = iss
        if form_client_id is not None and form_client_id != iss:
            bad("The client_id parameter does not match the client_assertion issuer.")
        alg = header.get("alg")
        if alg not in _ALGS:
            bad("The client_assertion signature algorithm is not supported.")
        keys = client["keys"]
        if header.get("kid") is not None:
            keys = [k for k in keys if k[0] == header["kid"]] or \
                   [k for k in keys if k[0] is None]
        keys = [k for k in keys if k[2] in (None, alg)]
        signing_input = (parts[0] + "." + parts[1]).encode()
        if not any(verify_jws(alg, k[1], signing_input, sig) for k in keys):
            bad("The client_assertion signature is invalid.")
        if sub != iss:
            bad("The client_assertion 'sub' must equal 'iss' (the client_id).")
        aud = claims.get("aud")
        want = st.org_url + "/oauth2/v1/token"
        auds = aud if isinstance(aud, list) else [aud]
        if want not in auds:
            bad("The audience of the client_assertion must be '%s'." % want)
        skew = float(st.settings.get("clock_skew", 0))
        exp = claims.get("exp")
        if not isinstance(exp, (int, float)) or isinstance(exp, bool):
            bad("The client_assertion must contain a numeric 'exp'.")
        if exp <= now - skew:
            bad("The client_assertion token is expired.")
        if exp > now + float(st.settings["assertion_max_lifetime"]) + skew:
            bad("The client_assertion 'exp' is too far in the future (max 1 hour).")
        iat = claims.get("iat")
        if iat is not None and (not isinstance(iat, (int, float)) or iat > now + skew + 60):
            bad("The client_assertion 'iat' is invalid.")
        jti = claims.get("jti")
        if jti is None:
            if st.settings.get("require_jti"):
                bad("The client_assertion must contain 'jti'.")
        else:
            for k, e in list(st.used_jtis.items()):
                if e < now - 3600:
                    del st.used_jtis[k]
            if (iss, jti) in st.used_jtis:
                bad("The client_assertion token has already been used (jti replay).")
        entry["_jti"] = (iss, jti, float(exp))
        return client

    # -- admin ---------------------------------------------------------------------
    def _admin_json(self, body):
        if not body:
            return {}
        try:
            return json.loads(body)
        except json.JSONDecodeError as e:
            raise AdminError(400, "bad JSON: %s" % e)

    def _admin(self, method, path, query, body):
        """Test control API. The fake clock (POST clock) moves every expiry check,
        rate-limit window and timestamp together."""
        st = self.store
        parts = [unquote(p) for p in path.split("/") if p][1:]
        now = st.now()
        data = self._admin_json(body)
        if parts == ["health"] and method == "GET":
            return 200, {"ok": True, "org_url": st.org_url, "now": now}
        if parts == ["state"]:
            if method == "GET":
                return 200, st.export()
            if method == "PUT":
                st.load(data)
                return 200, st.export()
            if method == "PATCH":
                self._admin_patch_state(data, now)
                return 200, st.export()
        if parts[:1] == ["users"]:
            return self._admin_users(method, parts[1:], data, now)
        if parts[:1] == ["groups"]:
            return self._admin_groups(method, parts[1:], data, now)
        if parts == ["revoke"] and method == "POST":
            n = 0
            if "token" in data:
                t = data["token"]
                if t in st.api_tokens:
                    st.api_tokens[t]["revoked"] = True
                    n += 1
                if t in st.access_tokens:
                    st.access_tokens[t]["revoked"] = True
                    n += 1
            if "api_token_name" in data:
                for v in st.api_tokens.values():
                    if v["name"] == data["api_token_name"]:
                        v["revoked"] = True
                        n += 1
            if "client_id" in data or data.get("all_access_tokens"):
                for v in st.access_tokens.values():
                    if data.get("all_access_tokens") or v["client_id"] == data["client_id"]:
                        if not v["revoked"]:
                            v["revoked"] = True
                            n += 1
            return 200, {"revoked": n}
        if parts == ["faults"]:
            if method == "GET":
                return 200, {"faults": st.faults}
            if method == "DELETE":
                st.faults = []
                return 200, {"faults": []}
            if method == "POST":
                return 200, self._admin_fault(data, now)
        if parts == ["requests"]:
            if method == "GET":
                since = int(self._qs(query).get("since", 0))
                return 200, {"requests": st.requests[since:], "next": len(st.requests)}
            if method == "DELETE":
                st.requests = []
                return 200, {"requests": []}
        if parts == ["clock"] and method == "POST":
            if "offset" in data:
                st.clock_offset = float(data["offset"])
            st.clock_offset += float(data.get("advance", 0))
            return 200, {"offset": st.clock_offset, "now": st.now()}
        if parts == ["rate_limits", "reset"] and method == "POST":
            st.buckets = {}
            return 200, {"ok": True}
        raise AdminError(404, "no admin route %s %s" % (method, path))

    def _admin_fault(self, data, now):
        st = self.store
        mode = data.get("mode")
        if mode == "expire_tokens" and not data.get("after"):
            return {"mode": mode, "expired": st.expire_access_tokens(now)}
        st.fault_seq += 1
        if mode == "expire_tokens":
            after = int(data["after"])
            if after < 1:
                raise AdminError(400, "after must be >= 1")
            f = {"id": st.fault_seq, "mode": mode, "after": after, "seen": 0}
            st.faults.append(f)
            return f
        if mode == "fail_page":
            nth = int(data.get("nth", 1))
            if nth < 1:
                raise AdminError(400, "nth must be >= 1")
            f = {"id": st.fault_seq, "mode": mode, "nth": nth, "seen": 0}
        elif mode == "429_storm":
            count = int(data.get("count", 1))
            if count < 1:
                raise AdminError(400, "count must be >= 1")
            f = {"id": st.fault_seq, "mode": mode, "count": count, "remaining": count,
                 "reset_in": float(data.get("reset_in", 1))}
        else:
            raise AdminError(400, "unknown fault mode %r" % mode)
        if data.get("path_prefix"):
            f["path_prefix"] = data["path_prefix"]
        st.faults.append(f)
        return f

    def _admin_patch_state(self, data, now):
        """Merge: settings deep-merged; api_tokens/clients added or replaced; users
        upserted (a given user object replaces the stored one, keeping created);
        groups upserted (profile replaced, members replaced if given, with
        lastUpdated/lastMembershipUpdated bumped when they change)."""
        st = self.store
        if "settings" in data:
            st.settings = deep_merge(st.settings, data["settings"])
        if "org_url" in data:
            st.org_url = data["org_url"].rstrip("/")
        for t in data.get("api_tokens", []):
            st.add_api_token(t, len(st.api_tokens))
        for c in data.get("clients", []):
            st.add_client(c)
        for u in data.get("users", []):
            old = st.users.get(u.get("id"))
            if old:
                self._update_user(old, u, now)
            else:
                st.put_user(u, now)
        for g in data.get("groups", []):
            old = st.groups.get(g.get("id"))
            if old:
                self._update_group(old, g, now)
            else:
                st.put_group(g, now)

    def _update_user(self, u, data, now):
        changed = False
        if "profile" in data:
            prof = copy.deepcopy(u["profile"])
            for k, v in data["profile"].items():
                if v is None:
                    prof.pop(k, None)
                else:
                    prof[k] = v
            if not prof.get("login"):
                raise AdminError(400, "profile.login cannot be removed")
            if prof != u["profile"]:
                u["profile"] = prof
                changed = True
        if "status" in data and data["status"] != u["status"]:
            self._set_status(u, data["status"], now)
            changed = True
        for k in ("lastLogin", "passwordChanged", "type"):
            if k in data and data[k] != u.get(k):
                u[k] = data[k]
                changed = k != "lastLogin" or changed
        if changed:
            u["lastUpdated"] = iso(now)
        return u

    def _set_status(self, u, status, now):
        if status not in USER_STATUSES:
            raise AdminError(400, "bad user status %r" % status)
        if status == u["status"]:
            return
        u["status"] = status
        u["statusChanged"] = iso(now)
        u["lastUpdated"] = iso(now)
        if status in ("ACTIVE", "PROVISIONED") and not u.get("activated"):
            u["activated"] = iso(now)

    def _admin_users(self, method, rest, data, now):
        st = self.store
        if not rest and method == "POST":
            if data.get("id") in st.users:
                raise AdminError(409, "user %s exists" % data["id"])
            u = st.put_user(data, now)
            for gid in data.get("groups", []):
                g = st.groups.get(gid)
                if not g:
                    raise AdminError(400, "no group %s" % gid)
                st.set_members(g, g["members"] | {u["id"]}, now)
            return 201, st.user_view(u)
        if not rest:
            raise AdminError(405, "use POST /__admin__/users")
        u = st.users.get(rest[0])
        if not u:
            raise AdminError(404, "no user %s" % rest[0])
        if len(rest) == 1 and method == "GET":
            return 200, st.user_view(u)
        if len(rest) == 1 and method == "PATCH":
            return 200, st.user_view(self._update_user(u, data, now))
        if len(rest) == 1 and method == "DELETE":
            del st.users[u["id"]]
            for g in st.groups.values():
                if u["id"] in g["members"]:
                    st.set_members(g, g["members"] - {u["id"]}, now)
            return 200, {"deleted": u["id"]}
        if len(rest) == 2 and method == "POST" and rest[1] == "deactivate":
            # DEACT: group memberships are kept.
            self._set_status(u, "DEPROVISIONED", now)
            return 200, st.user_view(u)
        if len(rest) == 2 and method == "POST" and rest[1] == "reactivate":
            self._set_status(u, data.get("status", "ACTIVE"), now)
            return 200, st.user_view(u)
        raise AdminError(404, "no admin user route")

    def _update_group(self, g, data, now):
        st = self.store
        if "profile" in data:
            prof = copy.deepcopy(g["profile"])
            for k, v in data["profile"].items():
                if v is None:
                    prof.pop(k, None)
                else:
                    prof[k] = v
            if not prof.get("name"):
                raise AdminError(400, "profile.name cannot be removed")
            if prof != g["profile"]:
                g["profile"] = prof
                g["lastUpdated"] = iso(now)
        if "members" in data:
            st.set_members(g, data["members"], now)
        return g

    def _admin_groups(self, method, rest, data, now):
        st = self.store
        if not rest and method == "POST":
            if data.get("id") in st.groups:
                raise AdminError(409, "group %s exists" % data["id"])
            return 201, st.group_view(st.put_group(data, now))
        if not rest:
            raise AdminError(405, "use POST /__admin__/groups")
        g = st.groups.get(rest[0])
        if not g:
            raise AdminError(404, "no group %s" % rest[0])
        if len(rest) == 1 and method == "GET":
            return 200, st.group_view(g) | {"members": sorted(g["members"])}
        if len(rest) == 1 and method == "PATCH":
            return 200, st.group_view(self._update_group(g, data, now))
        if len(rest) == 1 and method == "DELETE":
            del st.groups[g["id"]]
            return 200, {"deleted": g["id"]}
        if len(rest) == 3 and rest[1] == "members":
            uid = rest[2]
            if method == "PUT":
                if uid not in st.users:
                    raise AdminError(404, "no user %s" % uid)
                st.set_members(g, g["members"] | {uid}, now)
                return 200, st.group_view(g)
            if method == "DELETE":
                st.set_members(g, g["members"] - {uid}, now)
                return 200, st.group_view(g)
        raise AdminError(404, "no admin group route")


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--state", help="JSON state file")
    ap.add_argument("--org-url", help="override the org URL used in links and 'aud'")
    ap.add_argument("--verbose", action="store_true")
    a = ap.parse_args(argv)
    state = {}
    if a.state:
        with open(a.state, encoding="utf-8") as fh:
            state = json.load(fh)
    srv = Server(("127.0.0.1", a.port), Handler)
    port = srv.server_address[1]
    org = a.org_url or "http://127.0.0.1:%d" % port
    if a.org_url:
        state = dict(state, org_url=a.org_url)
    try:
        srv.store = Store(state, org)
    except AdminError as e:
        sys.stderr.write("okta_fake: bad state: %s\n" % e.message)
        return 2
    srv.verbose = a.verbose
    sys.stdout.write("LISTENING 127.0.0.1:%d\n" % port)
    sys.stdout.flush()
    try:
        srv.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        srv.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
