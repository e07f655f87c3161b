// sealing.tsx is the Sealing keys tab: the organisation's admin key, the
// backup keys and every user's device keys. Stored chats are sealed to all
// of them. Admin and backup keys can be made here, in the browser: only the
// public half (age1pq1…) is sent to the server; the identity is shown once
// and saved to a file by the admin, never sent anywhere. A public key made
// offline (`silo admin init`, `silo keys backup create`) can be pasted
// instead.

import { generateHybridIdentity, identityToRecipient } from "age-encryption";
import { useState } from "preact/hooks";
import { ApiError, del, get, post, put, type SealKey } from "../api";
import { Button, ErrorBox, Loading, download, useAction, useLoad, when, Confirm } from "../ui";
import { SealKeyTable } from "../sealkeys";
import { CopyButton, useUsers } from "./common";

export function SealingTab() {
  return (
    <>
      <p>
        Every stored message is sealed to its user's live device keys, to the admin key and to every live backup key. Revoking a key stops new messages being sealed
        to it; what it could open before stays readable with it.
      </p>
      <AdminKey />
      <BackupKeys />
      <DeviceKeys />
    </>
  );
}

interface Generated {
  identity: string;
  recipient: string;
}

async function generate(): Promise<Generated> {
  const identity = await generateHybridIdentity();
  return { identity, recipient: await identityToRecipient(identity) };
}

// identityFile is the identity as age writes key files, so that age and
// silo's CLI read it back.
function identityFile(g: Generated, what: string): string {
  return `# silo ${what}, made in the browser\n# created: ${new Date().toISOString()}\n# public key: ${g.recipient}\n${g.identity}\n`;
}

const recipientRe = /^age1pq1[02-9ac-hj-np-z]+$/;

function checkRecipient(text: string): string {
  const r = text.trim();
  if (!recipientRe.test(r)) throw new Error("expected a post-quantum age public key (age1pq1…), as `silo admin init` or `silo keys backup create` prints it");
  return r;
}

// Identity shows a freshly made identity, once, with a way to save it.
function Identity({ g, testid, file, what, downloadLabel }: { g: Generated; testid: string; file: string; what: string; downloadLabel: string }) {
  return (
    <div class="notice">
      <p>
        <strong>The {what}'s secret identity, shown this once.</strong> Save it now and keep it offline: it opens every chat sealed to this key. It is not sent to the
        server and is gone when you leave this page.
      </p>
      <pre class="secret" data-testid={testid}>
        {g.identity}
      </pre>
      <details>
        <summary>Its public key (age1pq1…), which the server will get</summary>
        <code class="wrap">{g.recipient}</code>
      </details>
      <Button onClick={() => download(file, identityFile(g, what))}>{downloadLabel}</Button>
    </div>
  );
}

function KeyFacts({ k, testid }: { k: SealKey; testid?: string }) {
  return (
    <dl>
      <dt>Name</dt>
      <dd>{k.name}</dd>
      <dt>Fingerprint</dt>
      <dd>
        <code class="wrap" data-testid={testid}>
          {k.fingerprint}
        </code>
      </dd>
      <dt>Public key</dt>
      <dd>
        <details>
          <summary>age1pq1… ({k.recipient.length} characters)</summary>
          <code class="wrap">{k.recipient}</code> <CopyButton text={k.recipient} label={`Copy public key of ${k.name}`} />
        </details>
      </dd>
      <dt>Set</dt>
      <dd>{when(k.created_at)}</dd>
    </dl>
  );
}

function AdminKey() {
  const current = useLoad(() =>
    get<SealKey>("/keys/admin").catch((e) => {
      if (e instanceof ApiError && e.status === 404) return null;
      throw e;
    }),
  );
  const [made, setMade] = useState<Generated | null>(null);
  const [pasted, setPasted] = useState("");
  const gen = useAction(async () => setMade(await generate()));
  const set = useAction(async (recipient: string) => {
    await put<SealKey>("/keys/admin", { recipient: checkRecipient(recipient) });
    setPasted("");
    current.reload();
  });
  // Replacing a lost or exposed admin key: a new one is made here, the
  // live one revoked, the new one set. Stored chats stay sealed to the old
  // key until `silo keys rewrap --old-identity` moves them.
  const [next, setNext] = useState<Generated | null>(null);
  const [replaced, setReplaced] = useState(false);
  const genNext = useAction(async () => {
    setReplaced(false);
    setNext(await generate());
  });
  const replace = useAction(async (recipient: string) => {
    await del("/keys/admin");
    await put<SealKey>("/keys/admin", { recipient });
    setNext(null);
    setReplaced(true);
    current.reload();
  });
  const k = current.data;
  return (
    <section aria-labelledby="adminkey-h">
      <h2 id="adminkey-h">Admin key</h2>
      {current.data === undefined && !current.error && <Loading what="the admin key" />}
      {k && <KeyFacts k={k} testid="admin-key" />}
      {k && made && k.recipient !== made.recipient && <p class="warning">An admin key is set already; the key made here was not used.</p>}
      {k === null && (
        <>
          <p class="warning">No admin key is set: no chat can be stored, so none can be sent, until one is.</p>
          {!made && (
            <Button kind="primary" busy={gen.busy} onClick={() => gen.run()}>
              Generate admin key
            </Button>
          )}
        </>
      )}
      {k && !made && (
        <div class="replace">
          <h3>Replace the admin key</h3>
          <p class="muted">
            If the admin key is lost or exposed: make a new one, save it, then replace. New chats are sealed to the new key at once; move the stored ones with{" "}
            <code>silo keys rewrap --identity NEW --old-identity OLD</code> on the machine that holds both keys.
          </p>
          {replaced && (
            <p role="status" data-testid="admin-key-replaced">
              The admin key is replaced. Stored chats still open with the old key until the rewrap.
            </p>
          )}
          {!next ? (
            <Button busy={genNext.busy} onClick={() => genNext.run()}>
              Make a new admin key
            </Button>
          ) : (
            <>
              <Identity g={next} testid="new-admin-identity" file="silo-admin-key-new.txt" what="new admin key" downloadLabel="Download the new key" />
              <div class="row">
                <Confirm label="Replace the admin key" confirmLabel="Revoke the old key and set the new one" busy={replace.busy} onConfirm={() => replace.run(next.recipient)}>
                  Replace the admin key
                </Confirm>
                <Button onClick={() => setNext(null)}>Cancel</Button>
              </div>
            </>
          )}
          <ErrorBox error={genNext.error || replace.error} />
        </div>
      )}
      {made && (
        <>
          <Identity g={made} testid="admin-identity" file="silo-admin-key.txt" what="admin key" downloadLabel="Download" />
          <div class="row">
            {k === null && (
              <Button kind="primary" busy={set.busy} onClick={() => set.run(made.recipient)}>
                Set as admin key
              </Button>
            )}
            {k && <Button onClick={() => setMade(null)}>I have saved it</Button>}
          </div>
        </>
      )}
      {k === null && !made && (
        <form
          onSubmit={(e) => {
            e.preventDefault();
            set.run(pasted);
          }}
        >
          <label for="adminkey-paste">Or paste a public key made offline with silo admin init</label>
          <textarea id="adminkey-paste" rows={3} class="mono" value={pasted} onInput={(e) => setPasted(e.currentTarget.value)} placeholder="age1pq1…" spellcheck={false} autocomplete="off" />
          <Button type="submit" busy={set.busy}>
            Use pasted public key
          </Button>
        </form>
      )}
      <ErrorBox error={current.error || gen.error || set.error} />
    </section>
  );
}

function BackupKeys() {
  const list = useLoad(() => get<{ keys: SealKey[] }>("/keys/backup").then((r) => r.keys));
  const [name, setName] = useState("");
  const [pasted, setPasted] = useState("");
  const [made, setMade] = useState<Generated | null>(null);
  const [registered, setRegistered] = useState(false);
  const gen = useAction(async () => {
    setRegistered(false);
    setMade(await generate());
  });
  const add = useAction(async (recipient: string, generated: boolean) => {
    await post<SealKey>("/keys/backup", { name: name.trim() || "Backup", recipient: checkRecipient(recipient) });
    if (generated) setRegistered(true);
    else setPasted("");
    setName("");
    list.reload();
  });
  const revoke = useAction(async (id: string) => {
    await del(`/keys/backup/${id}`);
    list.reload();
  });
  return (
    <section aria-labelledby="backup-h">
      <h2 id="backup-h">Backup keys</h2>
      {list.data ? (
        list.data.length ? (
          <SealKeyTable
            keys={list.data}
            revoke={(k) => (
              <Confirm label={`Revoke backup key ${k.name}`} confirmLabel="Revoke now" busy={revoke.busy} onConfirm={() => revoke.run(k.id)}>
                Revoke
              </Confirm>
            )}
          />
        ) : (
          <p class="muted">No backup keys.</p>
        )
      ) : (
        !list.error && <Loading what="backup keys" />
      )}
      <h3>Add a backup key</h3>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          add.run(pasted, false);
        }}
      >
        <label for="backup-name">Backup key name</label>
        <input id="backup-name" maxLength={64} value={name} onInput={(e) => setName(e.currentTarget.value)} placeholder="Backup" />
        <div class="row">
          <Button busy={gen.busy} onClick={() => gen.run()}>
            Generate backup key
          </Button>
          <span class="muted">or paste one made offline with silo keys backup create:</span>
        </div>
        <label for="backup-paste">Backup public key</label>
        <textarea id="backup-paste" rows={2} class="mono" value={pasted} onInput={(e) => setPasted(e.currentTarget.value)} placeholder="age1pq1…" spellcheck={false} autocomplete="off" />
        <Button type="submit" busy={add.busy}>
          Add pasted public key
        </Button>
      </form>
      {made && (
        <>
          <Identity g={made} testid="backup-identity" file={`silo-backup-key-${(name.trim() || "backup").replace(/[^A-Za-z0-9_.-]+/g, "-")}.txt`} what="backup key" downloadLabel="Save to a file" />
          <div class="row">
            {!registered ? (
              <Button
                kind="primary"
                busy={add.busy}
                onClick={() => add.run(made.recipient, true)}
              >
                Add this backup key
              </Button>
            ) : (
              <Button onClick={() => setMade(null)}>I have saved it</Button>
            )}
          </div>
        </>
      )}
      <ErrorBox error={list.error || gen.error || add.error || revoke.error} />
    </section>
  );
}

function DeviceKeys() {
  const users = useUsers();
  const [picked, setPicked] = useState("");
  // Until one is picked, the first user (no effect: a pick made before it
  // ran would be overwritten).
  const uid = picked || users.data?.[0]?.id || "";
  const keys = useLoad(() => (uid ? get<{ keys: SealKey[] }>(`/keys/devices?user_id=${uid}`).then((r) => ({ uid, keys: r.keys })) : Promise.resolve(undefined)), [uid]);
  // The keys loaded for the user now picked (not the previous one's while
  // the new list loads).
  const list = keys.data && keys.data.uid === uid ? keys.data.keys : undefined;
  const revoke = useAction(async (id: string) => {
    await del(`/keys/devices/${id}`);
    keys.reload();
  });
  const who = users.name(uid);
  return (
    <section aria-labelledby="devices-h">
      <h2 id="devices-h">Device keys</h2>
      <div class="row filters">
        <label for="devices-user">User</label>
        <select id="devices-user" value={uid} onChange={(e) => setPicked(e.currentTarget.value)}>
          {(users.data || []).map((u) => (
            <option key={u.id} value={u.id}>
              {u.name}
            </option>
          ))}
        </select>
      </div>
      {list ? (
        list.length ? (
          <SealKeyTable
            testid="device-keys"
            keys={list}
            revoke={(k) => (
              <Button kind="danger" busy={revoke.busy} onClick={() => revoke.run(k.id)} label={`Revoke device key ${k.name} of ${who}`}>
                Revoke
              </Button>
            )}
          />
        ) : (
          <p class="muted">{who} has no device keys.</p>
        )
      ) : (
        !keys.error && !users.error && <Loading what="device keys" />
      )}
      <ErrorBox error={users.error || keys.error || revoke.error} />
    </section>
  );
}
