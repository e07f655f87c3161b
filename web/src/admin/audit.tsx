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
  const verify = useLoad(async () => {
    const v = await get<Verification>("/audit/verify");
    // A broken chain's count stops at the broken entry: find the last one.
    let last = v.entries;
    if (!v.ok) {
      for (;;) {
        const { entries } = await get<{ entries: Entry[] }>(`/audit?after=${last}&limit=1000`);
        if (entries.length) last = entries[entries.length - 1].seq;
        if (entries.length < 1000) break;
      }
    }
    return { ...v, last };
  });
  // upto is the newest entry of the page shown (entries upto-PAGE+1 to
  // upto, as sequence numbers start at 1); null is the newest page.
  const [upto, setUpto] = useState<number | null>(null);
  const last = verify.data?.last;
  const top = upto ?? last;
  const from = top === undefined ? undefined : Math.max(0, top - PAGE);
  const page = useLoad(
    () => (top === undefined || from === undefined || top === 0 ? Promise.resolve(top === 0 ? [] : undefined) : get<{ entries: Entry[] }>(`/audit?after=${from}&limit=${top - from}`).then((r) => r.entries)),
    [top],
  );
  const v = verify.data;
  const go = (u: number | null) => {
    if (u === null || (last !== undefined && u >= last)) setUpto(null);
    else setUpto(Math.max(1, u));
  };
  const entries = page.data ? [...page.data].reverse() : undefined;
  const newest = upto === null;
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
                {v.broken_seq !== undefined && v.broken_seq > 1 ? `Entries #1–#${v.broken_seq - 1} verify; ` : ""}
                from the broken entry on ({num(v.last)} entries in all), entries cannot be trusted to be as they were written.
                {v.broken_seq !== undefined && (
                  <>
                    {" "}
                    <Button onClick={() => go(v.broken_seq! + Math.floor(PAGE / 2))}>Show entry #{v.broken_seq}</Button>
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
          <Button disabled={newest || top === undefined} onClick={() => go((top || 0) + PAGE)}>
            Newer
          </Button>
          <Button disabled={!from} onClick={() => go((top || 0) - PAGE)}>
            Older
          </Button>
          <Button disabled={!from} onClick={() => go(Math.min(PAGE, last ?? PAGE))}>
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
