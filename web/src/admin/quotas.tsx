// quotas.tsx is the Quotas tab: each user's token quota per day and
// requests per minute (0 = unlimited), with the tokens used today.

import { useState } from "preact/hooks";
import { get, put, type User } from "../api";
import { Button, ErrorBox, Loading, useAction, useLoad } from "../ui";
import { num, useUsers } from "./common";

interface Limits {
  user_id: string;
  tokens_per_day: number;
  requests_per_minute: number;
  tokens_used_today?: number;
}

export function QuotasTab() {
  const users = useUsers();
  return (
    <section aria-labelledby="quotas-h">
      <h2 id="quotas-h">Quotas</h2>
      <p>A user over their daily token quota, or their requests per minute, gets 429 Too Many Requests until it frees up. 0 means no limit.</p>
      {users.data ? (
        <table class="stack">
          <thead>
            <tr>
              <th scope="col">User</th>
              <th scope="col">Tokens used today</th>
              <th scope="col">Tokens per day</th>
              <th scope="col">Requests per minute</th>
              <th scope="col">
                <span class="visually-hidden">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {users.data.map((u) => (
              <QuotaRow key={u.id} user={u} />
            ))}
          </tbody>
        </table>
      ) : (
        !users.error && <Loading what="users" />
      )}
      <ErrorBox error={users.error} />
    </section>
  );
}

function QuotaRow({ user }: { user: User }) {
  const limits = useLoad(() => get<Limits>(`/users/${user.id}/limits`), [user.id]);
  // Edits, or null to show the limits as loaded.
  const [tpdEdit, setTpd] = useState<string | null>(null);
  const [rpmEdit, setRpm] = useState<string | null>(null);
  const [saved, setSaved] = useState(false);
  const l = limits.data;
  const tpd = tpdEdit ?? (l ? String(l.tokens_per_day) : "");
  const rpm = rpmEdit ?? (l ? String(l.requests_per_minute) : "");
  const save = useAction(async () => {
    setSaved(false);
    const t = Number(tpd || 0);
    const r = Number(rpm || 0);
    if (!Number.isInteger(t) || t < 0 || !Number.isInteger(r) || r < 0) throw new Error("limits are whole numbers, 0 or more");
    await put<Limits>(`/users/${user.id}/limits`, { tokens_per_day: t, requests_per_minute: r });
    setTpd(null);
    setRpm(null);
    limits.reload();
    setSaved(true);
  });
  const dirty = !!l && (String(l.tokens_per_day) !== tpd || String(l.requests_per_minute) !== rpm);
  const over = !!l && l.tokens_per_day > 0 && (l.tokens_used_today || 0) >= l.tokens_per_day;
  return (
    <tr>
      <th scope="row">{user.name}</th>
      <td data-label="Used today">
        {l ? (
          <>
            <span class={over ? "status bad" : undefined}>{num(l.tokens_used_today || 0)}</span>
            {l.tokens_per_day > 0 && (
              <>
                {" "}
                <meter min={0} max={l.tokens_per_day} value={l.tokens_used_today || 0} aria-label={`${user.name}'s share of today's quota used`} />
              </>
            )}
          </>
        ) : limits.error ? (
          <ErrorBox error={limits.error} />
        ) : (
          "…"
        )}
      </td>
      <td data-label="Tokens per day">
        <input
          type="number"
          class="num"
          min={0}
          max={1000000000000}
          step={1}
          value={tpd}
          disabled={!l}
          onKeyDown={(e) => e.key === "Enter" && save.run()}
          aria-label={`Tokens per day for ${user.name}`}
          onInput={(e) => {
            setTpd(e.currentTarget.value);
            setSaved(false);
          }}
        />
      </td>
      <td data-label="Requests per minute">
        <input
          type="number"
          class="num"
          min={0}
          max={1000000}
          step={1}
          value={rpm}
          disabled={!l}
          onKeyDown={(e) => e.key === "Enter" && save.run()}
          aria-label={`Requests per minute for ${user.name}`}
          onInput={(e) => {
            setRpm(e.currentTarget.value);
            setSaved(false);
          }}
        />
      </td>
      <td>
        <Button kind={dirty ? "primary" : "plain"} busy={save.busy} disabled={!l} onClick={() => save.run()} label={`Save limits of ${user.name}`}>
          Save
        </Button>
        {saved && !dirty && (
          <span class="muted" role="status">
            {" "}
            Saved
          </span>
        )}
        <ErrorBox error={save.error} />
      </td>
    </tr>
  );
}
