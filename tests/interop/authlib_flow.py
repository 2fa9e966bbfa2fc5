"""jwtd through authlib (issue #11): discovery (RFC 8414), refresh at the
token endpoint with client_secret_basic, introspection (RFC 7662) and
revocation (RFC 7009) with the client's credentials, and RFC 9068
validation of the access token against the JWKS.

Run by tests/it/standard_clients.rs against a live jwtd:
    python3 authlib_flow.py http://127.0.0.1:PORT ADMIN_TOKEN
The URL is jwtd's issuer. Exit 0 when every step held."""

import os
import sys

os.environ["AUTHLIB_INSECURE_TRANSPORT"] = "1"  # the test server is plain HTTP

import requests
from authlib.integrations.requests_client import OAuth2Session, OAuthError
from authlib.jose import JsonWebKey, jwt

base, admin = sys.argv[1], sys.argv[2]
password = "correct horse battery"


def post(path, body, headers=None):
    r = requests.post(base + path, json=body, headers=headers or {}, timeout=10)
    assert r.ok, f"{path}: {r.status_code} {r.text}"
    return r.json()


creds = post(
    "/admin/clients",
    {"name": "authlib interop", "introspect": True},
    {"authorization": f"Bearer {admin}"},
)
client_id, client_secret = creds["client_id"], creds["client_secret"]
post("/register", {"username": "authlib-user", "password": password})
login = post(
    "/login",
    {"username": "authlib-user", "password": password, "client_id": client_id, "client_secret": client_secret},
)

meta = requests.get(base + "/.well-known/oauth-authorization-server", timeout=10).json()
assert meta["issuer"] == base, meta
session = OAuth2Session(
    client_id, client_secret, token_endpoint_auth_method="client_secret_basic"
)
token = session.refresh_token(meta["token_endpoint"], refresh_token=login["refresh_token"])
assert token["token_type"].lower() == "bearer" and token["refresh_token"] != login["refresh_token"]
print("authlib: refresh_token at the token endpoint ok")

live = session.introspect_token(meta["introspection_endpoint"], token=token["access_token"]).json()
assert live["active"] is True and live["client_id"] == client_id, live
print("authlib: introspect_token ok")

# RFC 9068 §4: typ at+jwt, iss, aud, exp, and client_id, against the JWKS.
jwks = JsonWebKey.import_key_set(requests.get(meta["jwks_uri"], timeout=10).json())
claims = jwt.decode(
    token["access_token"],
    jwks,
    claims_options={
        "iss": {"essential": True, "value": base},
        "aud": {"essential": True, "value": "jwtd"},
        "exp": {"essential": True},
        "client_id": {"essential": True, "value": client_id},
    },
)
claims.validate()
assert claims.header["typ"] == "at+jwt", claims.header
print("authlib: RFC 9068 access token validated against the JWKS")

r = session.revoke_token(meta["revocation_endpoint"], token=token["refresh_token"])
assert r.status_code == 200, r.text
try:
    session.refresh_token(meta["token_endpoint"], refresh_token=token["refresh_token"])
    raise AssertionError("a revoked refresh token was refreshed")
except OAuthError as e:
    assert e.error == "invalid_grant", e
dead = session.introspect_token(meta["introspection_endpoint"], token=token["access_token"]).json()
assert dead == {"active": False}, dead
print("authlib: revoke_token ok")
