"""Settings of the minimal django-scim2 project. The database and the bearer token's file come
from the environment; nothing is written into the source tree."""
import os

SECRET_KEY = "usher-interop-not-secret"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django_scim",
    "directory",
]
MIDDLEWARE = [
    "directory.auth.BearerTokenMiddleware",
    "django_scim.middleware.SCIMAuthCheckMiddleware",
]
ROOT_URLCONF = "directory.urls"
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3",
                         "NAME": os.environ["USHER_INTEROP_DB"]}}
AUTH_USER_MODEL = "directory.User"
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
SCIM_SERVICE_PROVIDER = {
    "NETLOC": "127.0.0.1",
    "SCHEME": "http",
    "GROUP_MODEL": "directory.models.Team",
    "AUTHENTICATION_SCHEMES": [{
        "type": "oauthbearertoken",
        "name": "OAuth Bearer Token",
        "description": "Authentication scheme using the OAuth Bearer Token Standard",
    }],
}
LOGGING = {"version": 1, "disable_existing_loggers": True}
