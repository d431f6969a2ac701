"""Bearer-token authentication for the SCIM endpoints: the token is compared in constant time
with the one in USHER_INTEROP_TOKEN_FILE. The client is not a stored user, so it is never listed."""
import hmac
import os


class ScimClient:
    is_authenticated = True
    is_anonymous = False
    pk = None


class BearerTokenMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response
        with open(os.environ["USHER_INTEROP_TOKEN_FILE"], encoding="utf-8") as f:
            self.expected = f"Bearer {f.read().strip()}".encode()

    def __call__(self, request):
        given = request.headers.get("Authorization", "").encode()
        if hmac.compare_digest(given, self.expected):
            request.user = ScimClient()
        return self.get_response(request)
