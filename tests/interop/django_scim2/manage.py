#!/usr/bin/env python3
"""A minimal Django project serving django-scim2 0.23.0, as its users set it up (custom User and
Group models with the SCIM mixins). For Usher's interop tests only.

    USHER_INTEROP_DB=/tmp/d.sqlite3 USHER_INTEROP_TOKEN_FILE=/tmp/token \\
        python3 manage.py migrate && python3 manage.py runserver 127.0.0.1:PORT --noreload
"""
import os
import sys

if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "directory.settings")
    from django.core.management import execute_from_command_line
    execute_from_command_line(sys.argv)
