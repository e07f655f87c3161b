// keys.tsx is the API keys tab: every user's API keys (filtered by user),
// a new key for any user (its secret shown once), and revocation.

import { useState } from "preact/hooks";
import { del, get, post } from "../api";
import { Button, ErrorBox, Loading, useAction, useLoad, when, Confirm } from "../ui";
import { CopyButton, useUsers } from "./common";

interface APIKey {
  id: string;
  user_id: string;
  name: string;
  prefix: string;
  created_at: string;
  last_used_at?: string;
  revoked_at?: string;
  revoked: boolean;
}

export function KeysTab() {
  const users = useUsers();
  const keys = useLoad(() => get<{ keys: APIKey[] }>("/keys?all=true").then((r) => r.keys));
  const [filter, setFilter] = useState("");
  const [showRevoked, setShowRevoked] = useState(false);
  const [owner, setOwner] = useState("");
  const [name, setName] = useState("");
  const [secret, setSecret] = useState<{ secret: string; who: string } | null>(null);
  const create = useAction(async () => {
    const uid = owner || users.data?.[0]?.id;
    if (!uid) throw new Error("choose whose key it is");
    const res = await post<{ secret: string; key: APIKey }>("/keys", { name: name.trim(), user_id: uid });
    setSecret({ secret: res.secret, who: users.name(uid) });
    setName("");
    keys.reload();
  });
  const revoke = useAction(async (id: string) => {
    await del(`/keys/${id}`);
    keys.reload();
  });
  const shown = (keys.data || []).filter((k) => (!filter || k.user_id === filter) && (showRevoked || !k.revoked));
  return (
    <>
      <section aria-labelledby="apikeys-h">
        <h2 id="apikeys-h">API keys</h2>
        <p>API keys authenticate the CLI and OpenAI SDKs (the bearer token of /v1). silo keeps only their hashes.</p>
        <div class="row filters">
          <label for="keys-filter">Show keys of</label>
          <select id="keys-filter" value={filter} onChange={(e) => setFilter(e.currentTarget.value)}>
            <option value="">everyone</option>
            {(users.data || []).map((u) => (
              <option key={u.id} value={u.id}>
                {u.name}
              </option>
            ))}
          </select>
          <label class="check">
            <input type="checkbox" checked={showRevoked} onChange={(e) => setShowRevoked(e.currentTarget.checked)} /> revoked keys too
          </label>
        </div>
        {keys.data ? (
          shown.length ? (
            <table class="stack">
              <thead>
                <tr>
                  <th scope="col">Owner</th>
                  <th scope="col">Name</th>
                  <th scope="col">Prefix</th>
                  <th scope="col">Created</th>
                  <th scope="col">Last used</th>
                  <th scope="col">Status</th>
                  <th scope="col">
                    <span class="visually-hidden">Actions</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {shown.map((k) => (
                  <tr key={k.id} class={k.revoked ? "dim" : undefined}>
                    <td data-label="Owner">{users.name(k.user_id)}</td>
                    <th scope="row">{k.name}</th>
                    <td data-label="Prefix">
                      <code>{k.prefix}…</code>
                    </td>
                    <td data-label="Created">{when(k.created_at)}</td>
                    <td data-label="Last used">{when(k.last_used_at)}</td>
                    <td data-label="Status">{k.revoked ? `revoked ${when(k.revoked_at)}` : "live"}</td>
                    <td>
                      {!k.revoked && (
                        <Confirm label={`Revoke API key ${k.name} of ${users.name(k.user_id)}`} confirmLabel="Revoke now" busy={revoke.busy} onConfirm={() => revoke.run(k.id)}>
                          Revoke
                        </Confirm>
                      )}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          ) : (
            <p class="muted">No API keys to show.</p>
          )
        ) : (
          !keys.error && <Loading what="API keys" />
        )}
        <ErrorBox error={keys.error || users.error || revoke.error} />
      </section>
      <section aria-labelledby="newkey-h">
        <h2 id="newkey-h">New API key</h2>
        <form
          class="row"
          onSubmit={(e) => {
            e.preventDefault();
            create.run();
          }}
        >
          <label for="newkey-owner">For</label>
          <select id="newkey-owner" value={owner || users.data?.[0]?.id || ""} onChange={(e) => setOwner(e.currentTarget.value)}>
            {(users.data || []).map((u) => (
              <option key={u.id} value={u.id}>
                {u.name}
              </option>
            ))}
          </select>
          <label for="newkey-name">Key name</label>
          <input id="newkey-name" required maxLength={64} value={name} onInput={(e) => setName(e.currentTarget.value)} />
          <Button type="submit" kind="primary" busy={create.busy}>
            Create key
          </Button>
        </form>
        <ErrorBox error={create.error} />
        {secret && (
          <div class="notice">
            <p>The new key of {secret.who}, shown this once:</p>
            <pre class="secret" data-testid="api-key-secret">
              {secret.secret}
            </pre>
            <CopyButton text={secret.secret} label="Copy API key" /> <Button onClick={() => setSecret(null)}>Done</Button>
          </div>
        )}
      </section>
    </>
  );
}
