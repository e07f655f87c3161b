// account.tsx is the signed-in user's own page: this browser's device key
// (export, import, replace), passkeys, sessions, two-factor sign-in and
// API keys.

import { useState } from "preact/hooks";
import { ApiError, del, get, post, type SealKey } from "./api";
import * as devicekey from "./devicekey";
import { SealKeyTable } from "./sealkeys";
import { adopt, keyState, type Session } from "./session";
import { EnrollTOTP } from "./signin";
import { Button, Confirm, ErrorBox, Loading, download, useAction, useLoad, when } from "./ui";
import * as webauthn from "./webauthn";

export function Account({ session, onChange }: { session: Session; onChange: (s: Session) => void }) {
  return (
    <main class="page">
      <h1>Account</h1>
      <p>
        Signed in as <strong>{session.user.name}</strong> ({session.user.role}).
      </p>
      <DeviceKeySection session={session} onChange={onChange} />
      <Readers />
      <Passkeys />
      <Sessions />
      <EnrollTOTP onDone={() => undefined} title="Two-factor sign-in (TOTP)" />
      <APIKeys />
    </main>
  );
}

function DeviceKeySection({ session, onChange }: { session: Session; onChange: (s: Session) => void }) {
  const devices = useLoad(() => get<{ keys: SealKey[] }>("/keys/devices"), [session.key?.recipient, session.keyState]);
  const [importText, setImportText] = useState("");
  const [showImport, setShowImport] = useState(false);
  const use = async (key: devicekey.DeviceKey) => {
    const state = await adopt(session.user, key);
    onChange({ ...session, key, keyState: state });
  };
  const imp = useAction(async () => {
    await use(await devicekey.parseIdentity(importText));
    setImportText("");
    setShowImport(false);
  });
  const fresh = useAction(async () => use(await devicekey.generate()));
  // forget removes the key from this browser only; the server keeps sealing
  // to it until it is revoked. A passkey-derived key comes back at the next
  // sign-in.
  const forget = useAction(async () => {
    await devicekey.forget(session.user.id);
    onChange({ ...session, key: null, keyState: "missing" });
  });
  const revoke = useAction(async (id: string) => {
    await del(`/keys/devices/${id}`);
    devices.reload();
    if (session.key) onChange({ ...session, keyState: await keyState(session.key) });
  });
  const k = session.key;
  return (
    <section aria-labelledby="device-key">
      <h2 id="device-key">Device key</h2>
      <p>
        Your stored chats are sealed to your device keys (and to the organisation's admin and backup keys). This browser opens them with its own key,
        which never leaves it unless you export it.
      </p>
      {k ? (
        <dl>
          <dt>This browser's key</dt>
          <dd>
            <code class="wrap" data-testid="device-recipient">
              {k.recipient.slice(0, 24)}…{k.recipient.slice(-8)}
            </code>
          </dd>
          <dt>Made from</dt>
          <dd>{k.mode === "passkey" ? "your passkey (PRF)" : k.mode === "imported" ? "an imported key" : "a key made in this browser"}</dd>
          <dt>Status</dt>
          <dd data-testid="device-key-state">{session.keyState === "live" ? "live" : session.keyState === "revoked" ? "revoked: new messages are not sealed to it" : "not registered"}</dd>
        </dl>
      ) : (
        <p class="warning">This browser has no device key.</p>
      )}
      <div class="row">
        {k && <Button onClick={() => download(`silo-device-key-${session.user.name}.txt`, devicekey.exportText(k, session.user.name))}>Export key</Button>}
        <Button onClick={() => setShowImport(!showImport)}>Import key</Button>
        {k ? (
          <>
            <Confirm label="Make a new key for this browser" confirmLabel="Make it: history sealed only to the old key will not open here" busy={fresh.busy} onConfirm={() => fresh.run()}>
              Make a new key
            </Confirm>
            <Confirm label="Forget the key on this browser" confirmLabel="Forget it (export it first to keep it)" busy={forget.busy} onConfirm={() => forget.run()}>
              Forget on this browser
            </Confirm>
          </>
        ) : (
          <Button busy={fresh.busy} onClick={() => fresh.run()}>
            Make a key
          </Button>
        )}
      </div>
      <p class="muted">On a shared computer, forget the key before you leave: it is kept in this browser's storage until then.</p>
      <ErrorBox error={fresh.error || forget.error} />
      {showImport && (
        <form
          onSubmit={(e) => {
            e.preventDefault();
            imp.run();
          }}
        >
          <label for="import-key">Paste an exported key (AGE-SECRET-KEY-PQ-1…)</label>
          <textarea id="import-key" rows={3} value={importText} onInput={(e) => setImportText(e.currentTarget.value)} autocomplete="off" spellcheck={false} />
          <Button type="submit" kind="primary" busy={imp.busy}>
            Use this key
          </Button>
          <ErrorBox error={imp.error} />
        </form>
      )}
      <h3>All your device keys</h3>
      {devices.data ? (
        <SealKeyTable
          keys={devices.data.keys}
          note={(d) => (k && d.recipient === k.recipient ? " (this browser)" : "")}
          revoke={(d) => (
            <Button kind="danger" onClick={() => revoke.run(d.id)} label={`Revoke ${d.name}`}>
              Revoke
            </Button>
          )}
        />
      ) : (
        <Loading />
      )}
      <ErrorBox error={devices.error || revoke.error} />
    </section>
  );
}

// Readers lists the keys besides the user's own that every new message is
// sealed to: the organisation's admin key and the live backup keys.
function Readers() {
  const keys = useLoad(async () => {
    const admin = await get<SealKey>("/keys/admin").catch((e) => {
      if (e instanceof ApiError && e.status === 404) return null;
      throw e;
    });
    const { keys: backups } = await get<{ keys: SealKey[] }>("/keys/backup");
    return { admin, backups: backups.filter((k) => !k.revoked) };
  });
  return (
    <section aria-labelledby="readers">
      <h2 id="readers">Who else can open your chats</h2>
      <p>Besides your device keys, every message is sealed to these keys, held offline by your organisation (the server holds none of them):</p>
      {keys.data ? (
        <ul data-testid="readers">
          <li>
            Admin key:{" "}
            {keys.data.admin ? <code class="wrap">{keys.data.admin.fingerprint}</code> : <span class="muted">not set (no chat can be stored yet)</span>}
          </li>
          {keys.data.backups.map((k) => (
            <li key={k.id}>
              Backup key {k.name}: <code class="wrap">{k.fingerprint}</code>
            </li>
          ))}
        </ul>
      ) : (
        <Loading />
      )}
      <ErrorBox error={keys.error} />
    </section>
  );
}

function Passkeys() {
  const list = useLoad(() => get<{ passkeys: { id: string; name: string; created_at: string; last_used_at?: string }[] }>("/passkeys"));
  const [name, setName] = useState("");
  const add = useAction(async () => {
    const options = await post("/passkeys/register/begin");
    const { credential } = await webauthn.create(options.options);
    await post("/passkeys/register/finish", { name: name.trim() || "Passkey", credential });
    setName("");
    list.reload();
  });
  const remove = useAction(async (id: string) => {
    await del(`/passkeys/${id}`);
    list.reload();
  });
  return (
    <section aria-labelledby="passkeys">
      <h2 id="passkeys">Passkeys</h2>
      {list.data ? (
        <ul>
          {list.data.passkeys.map((p) => (
            <li key={p.id}>
              {p.name} · added {when(p.created_at)} · last used {when(p.last_used_at)}{" "}
              <Confirm label={`Remove passkey ${p.name}`} confirmLabel={`Remove ${p.name}`} busy={remove.busy} onConfirm={() => remove.run(p.id)}>
                Remove
              </Confirm>
            </li>
          ))}
        </ul>
      ) : (
        <Loading />
      )}
      <form
        class="row"
        onSubmit={(e) => {
          e.preventDefault();
          add.run();
        }}
      >
        <label for="passkey-name">New passkey name</label>
        <input id="passkey-name" value={name} onInput={(e) => setName(e.currentTarget.value)} maxLength={64} />
        <Button type="submit" busy={add.busy}>
          Add a passkey
        </Button>
      </form>
      <ErrorBox error={list.error || add.error || remove.error} />
    </section>
  );
}

function Sessions() {
  const list = useLoad(() => get<{ sessions: { id: string; created_at: string; last_seen_at: string; expires_at: string; current: boolean }[] }>("/sessions"));
  const all = useAction(async () => {
    await post("/sessions/logout-all");
    location.reload();
  });
  return (
    <section aria-labelledby="sessions">
      <h2 id="sessions">Sessions</h2>
      {list.data ? (
        <ul>
          {list.data.sessions.map((s) => (
            <li key={s.id}>
              Signed in {when(s.created_at)} · last seen {when(s.last_seen_at)} · expires {when(s.expires_at)}
              {s.current ? " (this one)" : ""}
            </li>
          ))}
        </ul>
      ) : (
        <Loading />
      )}
      <Button kind="danger" busy={all.busy} onClick={() => all.run()}>
        Sign out everywhere
      </Button>
      <ErrorBox error={list.error || all.error} />
    </section>
  );
}

interface APIKey {
  id: string;
  name: string;
  prefix: string;
  created_at: string;
  last_used_at?: string;
  revoked: boolean;
}

function APIKeys() {
  const list = useLoad(() => get<{ keys: APIKey[] }>("/keys"));
  const [name, setName] = useState("");
  const [secret, setSecret] = useState("");
  const create = useAction(async () => {
    const res = await post<{ secret: string }>("/keys", { name: name.trim() });
    setSecret(res.secret);
    setName("");
    list.reload();
  });
  const revoke = useAction(async (id: string) => {
    await del(`/keys/${id}`);
    list.reload();
  });
  return (
    <section aria-labelledby="api-keys">
      <h2 id="api-keys">API keys</h2>
      <p>For the CLI and the OpenAI SDKs (as the bearer token of /v1).</p>
      {secret && (
        <div class="notice">
          <p>The new key, shown this once:</p>
          <pre class="secret">{secret}</pre>
          <Button onClick={() => navigator.clipboard.writeText(secret).catch(() => undefined)}>Copy</Button> <Button onClick={() => setSecret("")}>Done</Button>
        </div>
      )}
      {list.data ? (
        <ul>
          {list.data.keys.map((k) => (
            <li key={k.id}>
              {k.name} <code>{k.prefix}…</code> · made {when(k.created_at)} · last used {when(k.last_used_at)}
              {k.revoked ? (
                " · revoked"
              ) : (
                <>
                  {" "}
                  <Confirm label={`Revoke API key ${k.name}`} confirmLabel={`Revoke ${k.name}: it stops working at once`} busy={revoke.busy} onConfirm={() => revoke.run(k.id)}>
                    Revoke
                  </Confirm>
                </>
              )}
            </li>
          ))}
        </ul>
      ) : (
        <Loading />
      )}
      <form
        class="row"
        onSubmit={(e) => {
          e.preventDefault();
          create.run();
        }}
      >
        <label for="key-name">New key name</label>
        <input id="key-name" required value={name} onInput={(e) => setName(e.currentTarget.value)} maxLength={64} />
        <Button type="submit" busy={create.busy}>
          Create key
        </Button>
      </form>
      <ErrorBox error={list.error || create.error || revoke.error} />
    </section>
  );
}
