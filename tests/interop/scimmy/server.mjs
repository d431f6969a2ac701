// A SCIM 2.0 service provider as SCIMMY's users build one: SCIMMY 1.3.5 resources with in-memory
// handlers, served by scimmy-routers on Express. For Usher's interop tests only.
//
// usage: node server.mjs PORT TOKEN_FILE      (listens on 127.0.0.1:PORT, prints LISTENING PORT)
//
// SCIMMY refuses schema URNs outside urn:ietf:params:scim:schemas:, so the POSIX extension lives at
// urn:ietf:params:scim:schemas:extension:usher:posix:2.0:User / :Group here, and usherd reads it
// through [mapping] (README, "Compatibility"). Ids are random UUIDs, as a database would give.
import express from "express";
import SCIMMY from "scimmy";
import SCIMMYRouters from "scimmy-routers";
import {randomUUID} from "node:crypto";
import {readFileSync} from "node:fs";

const [port, tokenFile] = process.argv.slice(2);
const token = readFileSync(tokenFile, "utf8").trim();
const POSIX = "urn:ietf:params:scim:schemas:extension:usher:posix:2.0";
const {SchemaDefinition, Attribute} = SCIMMY.Types;

SCIMMY.Resources.User.extend(new SchemaDefinition("PosixUser", `${POSIX}:User`, "POSIX account", [
    new Attribute("integer", "uidNumber"),
    new Attribute("integer", "gidNumber"),
    new Attribute("string", "homeDirectory"),
    new Attribute("string", "loginShell"),
    new Attribute("string", "sshPublicKey", {multiValued: true}),
]), false);
SCIMMY.Resources.Group.extend(new SchemaDefinition("PosixGroup", `${POSIX}:Group`, "POSIX group", [
    new Attribute("integer", "gidNumber"),
]), false);
SCIMMY.Config.set({filter: {supported: true, maxResults: 1000}, patch: true});

// One store per resource type: id -> resource as last written, with its meta dates.
function handlers(store) {
    return {
        ingress: (resource, instance) => {
            const now = new Date().toISOString();
            const id = resource.id ?? randomUUID();
            if (resource.id && !store.has(id)) throw new SCIMMY.Types.Error(404, null, `Resource ${id} not found`);
            const created = store.get(id)?.meta?.created ?? now;
            const stored = {...JSON.parse(JSON.stringify(instance)), id, meta: {created, lastModified: now}};
            store.set(id, stored);
            return stored;
        },
        egress: (resource) => {
            if (resource.id) {
                const found = store.get(resource.id);
                if (!found) throw new SCIMMY.Types.Error(404, null, `Resource ${resource.id} not found`);
                return found;
            }
            const all = [...store.values()];
            return resource.filter ? resource.filter.match(all) : all;
        },
        degress: (resource) => {
            if (!store.delete(resource.id)) throw new SCIMMY.Types.Error(404, null, `Resource ${resource.id} not found`);
        },
    };
}

SCIMMY.Resources.declare(SCIMMY.Resources.User, handlers(new Map()));
SCIMMY.Resources.declare(SCIMMY.Resources.Group, handlers(new Map()));

const app = express();
app.use("/scim/v2", new SCIMMYRouters({
    type: "bearer",
    handler: (request) => {
        if (request.header("Authorization") !== `Bearer ${token}`) throw new Error("not authorised");
        return "usher-interop";
    },
}));
const server = app.listen(Number(port), "127.0.0.1", () => {
    console.log(`LISTENING ${server.address().port}`);
});
