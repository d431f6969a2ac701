#!/usr/bin/env python3
"""Seed and poke a SCIM 2.0 server for Usher's tests (standard library only).

Command line (each prints JSON):
  scim_seed.py seed --url URL --token T --from dir.json     -> {file id: server id}
  scim_seed.py get-user NAME | delete-user NAME | set-active NAME true|false
  scim_seed.py patch-user NAME OP PATH [VALUE]   (OP: add|replace|remove; VALUE is JSON or a string)
  scim_seed.py rename-user NAME NEWNAME
  scim_seed.py add-member GROUP USER | remove-member GROUP USER | delete-group NAME
  scim_seed.py create-user JSON | create-group JSON   (JSON text, or @FILE)
--url/--token default to $SCIM_URL / $SCIM_TOKEN.

`seed` reads {"Users": [...], "Groups": [...]} (gen_directory.py --scim-json), creates the users,
then the groups with members rewritten to the server-assigned user ids. It uses POST /Bulk in
batches (up to maxOperations, at most 1000, and within maxPayloadSize) when the
ServiceProviderConfig announces bulk support, else one POST per resource.

As a module:
  client = ScimClient(url, token); id_map = seed(client, directory); client.get_user("user00001")
"""
import argparse
import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request

PATCH_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
BULK_REQUEST_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"
MAX_BULK_OPERATIONS = 1000


class ScimError(Exception):
    def __init__(self, method, path, status, body):
        super().__init__(f"{method} {path}: HTTP {status}: {body}")
        self.status = status
        self.body = body


class ScimClient:
    def __init__(self, url, token=None, timeout=60):
        self.url = url.rstrip("/")
        self.token = token
        self.timeout = timeout

    def request(self, method, path, body=None, query=None):
        """Send one request; return the decoded JSON body (None when empty). Raise ScimError."""
        url = self.url + path
        if query:
            url += "?" + urllib.parse.urlencode(query)
        headers = {"Accept": "application/scim+json"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/scim+json"
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        request = urllib.request.Request(url, data=data, headers=headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                raw = response.read()
        except urllib.error.HTTPError as e:
            raise ScimError(method, path, e.code, e.read().decode(errors="replace")) from None
        return json.loads(raw) if raw.strip() else None

    # --- discovery and lookup
    def service_provider_config(self):
        return self.request("GET", "/ServiceProviderConfig")

    def bulk_limits(self):
        """(max operations, max payload bytes), or None when bulk is not supported."""
        try:
            bulk = self.service_provider_config().get("bulk") or {}
        except (ScimError, ValueError):
            return None
        if not bulk.get("supported"):
            return None
        max_operations = min(int(bulk.get("maxOperations") or MAX_BULK_OPERATIONS), MAX_BULK_OPERATIONS)
        return max_operations, int(bulk.get("maxPayloadSize") or 1 << 20)

    def find_one(self, endpoint, attribute, value):
        escaped = value.replace("\\", "\\\\").replace('"', '\\"')
        found = self.request("GET", endpoint, query={"filter": f'{attribute} eq "{escaped}"'})
        resources = (found or {}).get("Resources") or []
        if not resources:
            raise LookupError(f"no {endpoint[1:-1].lower()} with {attribute} {value!r}")
        return resources[0]

    def get_user(self, name):
        return self.find_one("/Users", "userName", name)

    def get_group(self, name):
        return self.find_one("/Groups", "displayName", name)

    # --- changes
    def create(self, endpoint, resource):
        return self.request("POST", endpoint, body=without_server_fields(resource))

    def create_user(self, resource):
        return self.create("/Users", resource)

    def create_group(self, resource):
        return self.create("/Groups", resource)

    def patch(self, endpoint, resource_id, operations):
        """PATCH (RFC 7644 3.5.2); return the resource as it is afterwards."""
        result = self.request("PATCH", f"{endpoint}/{resource_id}",
                              body={"schemas": [PATCH_SCHEMA], "Operations": operations})
        return result if result else self.request("GET", f"{endpoint}/{resource_id}")

    def patch_user(self, name, op, path, value=None):
        operation = {"op": op, "path": path}
        if op != "remove" or value is not None:
            operation["value"] = value
        return self.patch("/Users", self.get_user(name)["id"], [operation])

    def set_active(self, name, active):
        return self.patch_user(name, "replace", "active", bool(active))

    def rename_user(self, name, new_name):
        return self.patch_user(name, "replace", "userName", new_name)

    def delete_user(self, name):
        user = self.get_user(name)
        self.request("DELETE", f"/Users/{user['id']}")
        return {"deleted": user["id"], "userName": name}

    def delete_group(self, name):
        group = self.get_group(name)
        self.request("DELETE", f"/Groups/{group['id']}")
        return {"deleted": group["id"], "displayName": name}

    def add_member(self, group_name, user_name):
        user = self.get_user(user_name)
        member = {"value": user["id"], "display": user_name}
        return self.patch("/Groups", self.get_group(group_name)["id"],
                          [{"op": "add", "path": "members", "value": [member]}])

    def remove_member(self, group_name, user_name):
        user_id = self.get_user(user_name)["id"]
        return self.patch("/Groups", self.get_group(group_name)["id"],
                          [{"op": "remove", "path": f'members[value eq "{user_id}"]'}])


def without_server_fields(resource):
    """A copy without `id` and `meta`, which the server assigns."""
    return {k: v for k, v in resource.items() if k not in ("id", "meta")}


def server_id_of(operation_result):
    """The server id from a Bulk response operation's `location` (…/Users/ID)."""
    location = operation_result.get("location") or ""
    return location.rstrip("/").rsplit("/", 1)[-1] or None


def bulk_batches(operations, max_operations, max_payload):
    """Split operations into batches within the operation count and (roughly) payload limits."""
    batch, size = [], 200
    for operation in operations:
        op_size = len(json.dumps(operation)) + 2
        if batch and (len(batch) >= max_operations or size + op_size > max_payload):
            yield batch
            batch, size = [], 200
        batch.append(operation)
        size += op_size
    if batch:
        yield batch


def bulk_create(client, endpoint, resources, limits):
    """POST /Bulk creating each resource (bulkId = its file id); return {file id: server id}."""
    operations = [
        {"method": "POST", "path": endpoint, "bulkId": r["id"], "data": without_server_fields(r)}
        for r in resources
    ]
    id_map = {}
    for batch in bulk_batches(operations, *limits):
        response = client.request("POST", "/Bulk", body={
            "schemas": [BULK_REQUEST_SCHEMA], "failOnErrors": 1, "Operations": batch})
        for result in response.get("Operations", []):
            status = str(result.get("status", ""))
            status = str(status.get("code", "")) if isinstance(status, dict) else status
            server_id = server_id_of(result)
            if not status.startswith("2") or not server_id:
                raise ScimError("POST", "/Bulk", status, json.dumps(result))
            id_map[result["bulkId"]] = server_id
        missing = [op["bulkId"] for op in batch if op["bulkId"] not in id_map]
        if missing:
            raise ScimError("POST", "/Bulk", "incomplete", f"{len(missing)} not created: {missing[:5]}")
    return id_map


def single_create(client, endpoint, resources):
    return {r["id"]: client.create(endpoint, r)["id"] for r in resources}


def seed(client, directory, use_bulk=True):
    """Create all Users, then all Groups (members mapped to server ids). Return {file id: server id}."""
    limits = client.bulk_limits() if use_bulk else None

    def create_all(endpoint, resources):
        if limits:
            return bulk_create(client, endpoint, resources, limits)
        return single_create(client, endpoint, resources)

    id_map = create_all("/Users", directory.get("Users", []))
    groups = []
    for group in directory.get("Groups", []):
        members = [dict(m, value=id_map[m["value"]]) for m in group.get("members", [])]
        groups.append(dict(group, members=members))
    id_map.update(create_all("/Groups", groups))
    return id_map


def parse_value(text):
    """A PATCH value from the command line: JSON when it parses, else the plain string."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def load_json_argument(text):
    if text.startswith("@"):
        with open(text[1:], encoding="utf-8") as f:
            return json.load(f)
    return json.loads(text)


def main(argv=None):
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--url", default=os.environ.get("SCIM_URL"), help="base URL ($SCIM_URL)")
    common.add_argument("--token", default=os.environ.get("SCIM_TOKEN"), help="bearer token ($SCIM_TOKEN)")
    common.add_argument("--timeout", type=float, default=60)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)

    def command(name, *arguments):
        sub = commands.add_parser(name, parents=[common])
        for argument in arguments:
            sub.add_argument(argument)
        return sub

    seed_parser = command("seed")
    seed_parser.add_argument("--from", dest="source", required=True, metavar="FILE.json")
    seed_parser.add_argument("--no-bulk", action="store_true", help="one POST per resource")
    command("get-user", "name")
    patch_parser = command("patch-user", "name", "op", "path")
    patch_parser.add_argument("value", nargs="?")
    command("set-active", "name", "active")
    command("rename-user", "name", "new_name")
    command("delete-user", "name")
    command("add-member", "group", "user")
    command("remove-member", "group", "user")
    command("create-user", "json")
    command("create-group", "json")
    command("delete-group", "name")
    args = parser.parse_args(argv)
    if not args.url:
        parser.error("--url (or $SCIM_URL) is required")

    client = ScimClient(args.url, args.token, args.timeout)
    if args.command == "seed":
        with open(args.source, encoding="utf-8") as f:
            result = seed(client, json.load(f), use_bulk=not args.no_bulk)
    elif args.command == "get-user":
        result = client.get_user(args.name)
    elif args.command == "patch-user":
        value = None if args.value is None else parse_value(args.value)
        result = client.patch_user(args.name, args.op, args.path, value)
    elif args.command == "set-active":
        if args.active not in ("true", "false"):
            parser.error("set-active takes true or false")
        result = client.set_active(args.name, args.active == "true")
    elif args.command == "rename-user":
        result = client.rename_user(args.name, args.new_name)
    elif args.command == "delete-user":
        result = client.delete_user(args.name)
    elif args.command == "add-member":
        result = client.add_member(args.group, args.user)
    elif args.command == "remove-member":
        result = client.remove_member(args.group, args.user)
    elif args.command == "create-user":
        result = client.create_user(load_json_argument(args.json))
    elif args.command == "create-group":
        result = client.create_group(load_json_argument(args.json))
    else:  # delete-group
        result = client.delete_group(args.name)
    json.dump(result, sys.stdout, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    try:
        main()
    except (ScimError, LookupError) as e:
        sys.exit(f"error: {e}")
