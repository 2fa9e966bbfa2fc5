"""Verifies a jwtd access token with PyJWT, an independent JOSE
implementation, given only the JWKS (or, for HS256, the shared secret).

usage: verify_with_jwks.py ISSUER AUDIENCE < {"jwks": {...}, "token": "...", "secret_hex": "..."}
Prints the verified claims as JSON and exits 0, or prints the error and exits 1.
"""
import json
import sys

import jwt


def main() -> int:
    issuer, audience = sys.argv[1], sys.argv[2]
    req = json.load(sys.stdin)
    token = req["token"]
    header = jwt.get_unverified_header(token)
    if header.get("typ") != "at+jwt":
        print(f"wrong typ {header.get('typ')!r}")
        return 1
    if header["alg"] == "HS256":
        key = bytes.fromhex(req["secret_hex"])
    else:
        jwks = jwt.PyJWKSet.from_dict(req["jwks"])
        matches = [k for k in jwks.keys if k.key_id == header.get("kid")]
        if not matches:
            print("kid not in JWKS")
            return 1
        key = matches[0]
    try:
        claims = jwt.decode(
            token,
            key=key,
            algorithms=[header["alg"]],
            audience=audience,
            issuer=issuer,
            options={"require": ["exp", "iat", "nbf", "iss", "aud", "sub", "jti"]},
        )
    except jwt.PyJWTError as e:
        print(f"{type(e).__name__}: {e}")
        return 1
    print(json.dumps(claims))
    return 0


if __name__ == "__main__":
    sys.exit(main())
