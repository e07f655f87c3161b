// users.tsx is the Users tab: every account (role, disable, delete, reset
// TOTP), invitations (list, create with a link shown once) and the sign-in
// policy (who must use TOTP, which e-mail domains may join).

import { useState } from "preact/hooks";
import { ApiError, del, get, patch, post, put, type User } from "../api";
import type { Session } from "../session";
import { Button, ErrorBox, Loading, useAction, useLoad, when, Confirm } from "../ui";
import { CopyButton, useUsers } from "./common";

export function UsersTab({ session }: { session: Session }) {
  const users = useUsers();
  return (
    <>
      <UserList session={session} users={users} />
      <Invitations users={users} />
      <SignInPolicy />
    </>
  );
}

// resetTOTP removes a user's TOTP; the server answers 404 when there is none.
async function resetTOTP(u: User) {
  try {
    await del(`/users/${u.id}/totp`);
  } catch (e) {
    if (e instanceof ApiError && e.status === 404) throw new Error(`${u.name} has no TOTP to remove.`);
    throw e;
  }
}

function UserList({ session, users }: { session: Session; users: ReturnType<typeof useUsers> }) {
  const [notice, setNotice] = useState("");
  const act = useAction(async (what: string, run: () => Promise<unknown>) => {
    setNotice("");
    await run();
    setNotice(what);
    users.reload();
  });
  const list = users.data;
  return (
    <section aria-labelledby="users-h">
      <h2 id="users-h">Users</h2>
      {list ? (
        <table class="stack">
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">E-mail</th>
              <th scope="col">Role</th>
              <th scope="col">Created</th>
              <th scope="col">Status</th>
              <th scope="col">
                <span class="visually-hidden">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {list.map((u) => {
              const me = u.id === session.user.id;
              const other: User["role"] = u.role === "admin" ? "user" : "admin";
              return (
                <tr key={u.id} class={u.disabled ? "dim" : undefined}>
                  <th scope="row">
                    {u.name}
                    {me && <span class="muted"> (you)</span>}
                  </th>
                  <td data-label="E-mail">{u.email || "—"}</td>
                  <td data-label="Role">{u.role}</td>
                  <td data-label="Created">{when(u.created_at)}</td>
                  <td data-label="Status">{u.disabled ? <span class="status bad">disabled</span> : "active"}</td>
                  <td class="actions">
                    <Button
                      label={`Make ${u.name} ${other === "admin" ? "an admin" : "a regular user"}`}
                      busy={act.busy}
                      onClick={() => act.run(`${u.name} is now ${other === "admin" ? "an admin" : "a regular user"}.`, () => patch(`/users/${u.id}`, { role: other }))}
                    >
                      {other === "admin" ? "Make admin" : "Make regular user"}
                    </Button>
                    <Button
                      label={`${u.disabled ? "Enable" : "Disable"} ${u.name}`}
                      busy={act.busy}
                      onClick={() => act.run(`${u.name} is ${u.disabled ? "enabled" : "disabled"}.`, () => patch(`/users/${u.id}`, { disabled: !u.disabled }))}
                    >
                      {u.disabled ? "Enable" : "Disable"}
                    </Button>
                    <Confirm label={`Reset two-factor sign-in of ${u.name}`} confirmLabel={`Remove ${u.name}'s TOTP`} busy={act.busy} onConfirm={() => act.run(`${u.name}'s TOTP is removed.`, () => resetTOTP(u))}>
                      Reset TOTP
                    </Confirm>
                    <Confirm label={`Delete user ${u.name}`} confirmLabel={`Delete ${u.name} and their keys`} busy={act.busy} onConfirm={() => act.run(`${u.name} is deleted.`, () => del(`/users/${u.id}`))}>
                      Delete
                    </Confirm>
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      ) : (
        !users.error && <Loading what="users" />
      )}
      {notice && (
        <p class="muted" role="status">
          {notice}
        </p>
      )}
      <ErrorBox error={users.error || act.error} />
    </section>
  );
}

interface Invitation {
  id: string;
  email?: string;
  role: "admin" | "user";
  created_by?: string;
  created_at: string;
  expires_at: string;
  used: boolean;
  used_at?: string;
  user_id?: string;
}

function Invitations({ users }: { users: ReturnType<typeof useUsers> }) {
  const list = useLoad(() => get<{ invitations: Invitation[] }>("/invitations").then((r) => r.invitations));
  const [email, setEmail] = useState("");
  const [role, setRole] = useState<"user" | "admin">("user");
  const [hours, setHours] = useState("72");
  const [link, setLink] = useState("");
  const create = useAction(async () => {
    const body: Record<string, unknown> = { role };
    if (email.trim()) body.email = email.trim();
    const h = parseInt(hours, 10);
    if (h) body.expires_in_hours = h;
    const res = await post<{ token: string; invitation: Invitation }>("/invitations", body);
    setLink(`${location.origin}/#/invite/${res.token}`);
    setEmail("");
    list.reload();
  });
  const now = Date.now();
  return (
    <section aria-labelledby="invitations-h">
      <h2 id="invitations-h">Invitations</h2>
      <p>An invitation is a single-use link: whoever opens it picks a name and registers a passkey. The link is shown once.</p>
      <form
        class="row"
        onSubmit={(e) => {
          e.preventDefault();
          create.run();
        }}
      >
        <label for="invite-email">Invitee email</label>
        <input id="invite-email" type="email" value={email} onInput={(e) => setEmail(e.currentTarget.value)} maxLength={254} placeholder="optional" autocomplete="off" />
        <label for="invite-role">Role</label>
        <select id="invite-role" value={role} onChange={(e) => setRole(e.currentTarget.value as "user" | "admin")}>
          <option value="user">user</option>
          <option value="admin">admin</option>
        </select>
        <label for="invite-hours">Expires after (hours)</label>
        <input id="invite-hours" type="number" min={1} max={720} value={hours} onInput={(e) => setHours(e.currentTarget.value)} class="num" />
        <Button type="submit" kind="primary" busy={create.busy}>
          Create invitation
        </Button>
      </form>
      <ErrorBox error={create.error} />
      {link && (
        <div class="notice">
          <p>Send this link to the invitee (shown this once):</p>
          <p>
            <code class="wrap" data-testid="invitation-link">
              {link}
            </code>
          </p>
          <CopyButton text={link} label="Copy invitation link" /> <Button onClick={() => setLink("")}>Done</Button>
        </div>
      )}
      <h3>All invitations</h3>
      {list.data ? (
        list.data.length ? (
          <table class="stack">
            <thead>
              <tr>
                <th scope="col">For</th>
                <th scope="col">Role</th>
                <th scope="col">Created</th>
                <th scope="col">Expires</th>
                <th scope="col">State</th>
              </tr>
            </thead>
            <tbody>
              {list.data.map((i) => (
                <tr key={i.id}>
                  <td data-label="For">{i.email || <span class="muted">anyone with the link</span>}</td>
                  <td data-label="Role">{i.role}</td>
                  <td data-label="Created">
                    {when(i.created_at)}
                    {i.created_by && <span class="muted"> by {users.name(i.created_by)}</span>}
                  </td>
                  <td data-label="Expires">{when(i.expires_at)}</td>
                  <td data-label="State">
                    {i.used ? (
                      <>
                        used {when(i.used_at)}
                        {i.user_id && <> by {users.name(i.user_id)}</>}
                      </>
                    ) : new Date(i.expires_at).getTime() < now ? (
                      <span class="muted">expired</span>
                    ) : (
                      "open"
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        ) : (
          <p class="muted">No invitations yet.</p>
        )
      ) : (
        !list.error && <Loading what="invitations" />
      )}
      <ErrorBox error={list.error} />
    </section>
  );
}

interface AuthPolicy {
  totp_required: "none" | "admins" | "everyone";
  allowed_email_domains: string[];
}

function SignInPolicy() {
  const policy = useLoad(() => get<AuthPolicy>("/settings/auth"));
  // Edits, or null to show the policy as loaded.
  const [totpEdit, setTotp] = useState<AuthPolicy["totp_required"] | null>(null);
  const [domainsEdit, setDomains] = useState<string | null>(null);
  const [saved, setSaved] = useState(false);
  const totp = totpEdit ?? policy.data?.totp_required ?? "none";
  const domains = domainsEdit ?? policy.data?.allowed_email_domains.join("\n") ?? "";
  const save = useAction(async () => {
    setSaved(false);
    const list = domains
      .split(/[\s,]+/)
      .map((d) => d.trim().replace(/^@/, ""))
      .filter(Boolean);
    await put<AuthPolicy>("/settings/auth", { totp_required: totp, allowed_email_domains: list });
    setTotp(null);
    setDomains(null);
    policy.reload();
    setSaved(true);
  });
  return (
    <section aria-labelledby="policy-h">
      <h2 id="policy-h">Sign-in policy</h2>
      {policy.data ? (
        <form
          onSubmit={(e) => {
            e.preventDefault();
            save.run();
          }}
        >
          <label for="policy-totp">Two-factor sign-in (TOTP) required for</label>
          <select id="policy-totp" value={totp} onChange={(e) => setTotp(e.currentTarget.value as AuthPolicy["totp_required"])}>
            <option value="none">nobody</option>
            <option value="admins">admins</option>
            <option value="everyone">everyone</option>
          </select>
          <label for="policy-domains">Allowed e-mail domains</label>
          <span class="muted" id="policy-domains-hint">
            One per line, such as example.com. Empty: any e-mail address (or none) may join by invitation.
          </span>
          <textarea id="policy-domains" rows={3} value={domains} onInput={(e) => setDomains(e.currentTarget.value)} aria-describedby="policy-domains-hint" spellcheck={false} class="mono" />
          <Button type="submit" kind="primary" busy={save.busy}>
            Save policy
          </Button>
          {saved && (
            <p class="muted" role="status">
              Saved.
            </p>
          )}
        </form>
      ) : (
        !policy.error && <Loading what="the policy" />
      )}
      <ErrorBox error={policy.error || save.error} />
    </section>
  );
}
