// audit.tsx is the Audit log tab: whether the hash chain verifies (and the
// first broken entry if not), and the entries page by page, newest first.

import { useState } from "preact/hooks";
import { get } from "../api";
import { Button, ErrorBox, Loading, useLoad, when } from "../ui";
import { num, useUsers } from "./common";

interface Entry {
  seq: number;
  time: string;
  actor_id?: string;
  action: string;
  target: string;
  detail: Record<string, unknown>;
  prev_hash: string;
  hash: string;
}

interface Verification {
  ok: boolean;
  entries: number;
  broken_seq?: number;
  reason?: string;
}

const PAGE = 50;

export function AuditTab() {
  const users = useUsers();
  const verify = useLoad(() => get<Verification>("/audit/verify"));
  // after is the page's lower bound (entries after it are shown); null is
  // the newest page.
  const [after, setAfter] = useState<number | null>(null);
  const last = verify.data?.entries;
  const from = after ?? (last !== undefined ? Math.max(0, last - PAGE) : undefined);
  const page = useLoad(() => (from === undefined ? Promise.resolve(undefined) : get<{ entries: Entry[] }>(`/audit?after=${from}&limit=${PAGE}`).then((r) => r.entries)), [from]);
  const v = verify.data;
  const go = (a: number | null) => {
    if (a === null || (last !== undefined && a >= last - PAGE)) setAfter(null);
    else setAfter(Math.max(0, a));
  };
  const entries = page.data ? [...page.data].reverse() : undefined;
  const newest = after === null || (last !== undefined && from !== undefined && from + PAGE >= last);
  return (
    <>
      <section aria-labelledby="chain-h">
        <h2 id="chain-h">Chain verification</h2>
        <p class="muted">Each entry carries the hash of the one before, so an entry changed or removed after it was written breaks the chain from there on.</p>
        {!v && !verify.error && <Loading what="the verification" />}
        {v &&
          (v.ok ? (
            <p class="verify ok" data-testid="audit-verify" role="status">
              <strong>Chain intact:</strong> all {num(v.entries)} entries verify.
            </p>
          ) : (
            <div class="verify bad" data-testid="audit-verify" role="alert">
              <p>
                <strong>Chain broken</strong>
                {v.broken_seq !== undefined && <> at entry #{v.broken_seq}</>}
                {v.reason && <>: {v.reason}</>}
              </p>
              <p>
                {num(v.entries)} entries checked. Entries from the broken one on cannot be trusted to be as written.
                {v.broken_seq !== undefined && (
                  <>
                    {" "}
                    <Button onClick={() => go(v.broken_seq! - Math.floor(PAGE / 2))}>Show entry #{v.broken_seq}</Button>
                  </>
                )}
              </p>
            </div>
          ))}
        <Button
          onClick={() => {
            verify.reload();
            page.reload();
          }}
        >
          Verify again
        </Button>
        <ErrorBox error={verify.error} />
      </section>
      <section aria-labelledby="entries-h">
        <h2 id="entries-h">Entries</h2>
        <nav class="row pager" aria-label="Audit log pages">
          <Button disabled={newest} onClick={() => go(null)}>
            Newest
          </Button>
          <Button disabled={newest || from === undefined} onClick={() => go((from || 0) + PAGE)}>
            Newer
          </Button>
          <Button disabled={!from} onClick={() => go((from || 0) - PAGE)}>
            Older
          </Button>
          <Button disabled={!from} onClick={() => go(0)}>
            Oldest
          </Button>
          {entries && entries.length > 0 && (
            <span class="muted">
              entries #{entries[entries.length - 1].seq}–#{entries[0].seq}
              {last !== undefined && <> of {num(last)}</>}
            </span>
          )}
        </nav>
        {entries ? (
          entries.length ? (
            <table class="stack audit">
              <thead>
                <tr>
                  <th scope="col">#</th>
                  <th scope="col">Time</th>
                  <th scope="col">Actor</th>
                  <th scope="col">Action</th>
                  <th scope="col">Target</th>
                  <th scope="col">Detail</th>
                  <th scope="col">Hash</th>
                </tr>
              </thead>
              <tbody>
                {entries.map((e) => (
                  <tr key={e.seq} class={v && !v.ok && v.broken_seq !== undefined && e.seq >= v.broken_seq ? "broken" : undefined}>
                    <th scope="row">{e.seq}</th>
                    <td data-label="Time">{when(e.time)}</td>
                    <td data-label="Actor">{e.actor_id ? users.name(e.actor_id) : <span class="muted">system</span>}</td>
                    <td data-label="Action">
                      <code>{e.action}</code>
                    </td>
                    <td data-label="Target" class="wrap-cell">{e.target}</td>
                    <td data-label="Detail" class="wrap-cell">{e.detail && Object.keys(e.detail).length ? <code>{JSON.stringify(e.detail)}</code> : <span class="muted">—</span>}</td>
                    <td data-label="Hash">
                      <code title={`hash ${e.hash}\nprevious ${e.prev_hash}`}>{e.hash.slice(0, 12)}</code>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          ) : (
            <p class="muted">No entries.</p>
          )
        ) : (
          !page.error && <Loading what="entries" />
        )}
        <ErrorBox error={page.error || users.error} />
      </section>
    </>
  );
}
