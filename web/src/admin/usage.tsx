// usage.tsx is the Usage tab: tokens and requests by user and by model over
// a chosen period, as bar charts (SVG drawn here, no chart library) and a
// table.

import { useState } from "preact/hooks";
import { get } from "../api";
import { ErrorBox, Loading, useLoad } from "../ui";
import { num, short, useUsers } from "./common";

interface UsageTotal {
  user_id: string;
  model: string;
  requests: number;
  prompt_tokens: number;
  completion_tokens: number;
}

interface Bar {
  label: string;
  prompt: number;
  completion: number;
  requests: number;
}

// group sums rows by key.
function group(rows: UsageTotal[], key: (r: UsageTotal) => string): Bar[] {
  const m = new Map<string, Bar>();
  for (const r of rows) {
    const k = key(r);
    const b = m.get(k) || { label: k, prompt: 0, completion: 0, requests: 0 };
    b.prompt += r.prompt_tokens;
    b.completion += r.completion_tokens;
    b.requests += r.requests;
    m.set(k, b);
  }
  return [...m.values()].sort((a, b) => b.prompt + b.completion - (a.prompt + a.completion));
}

// The chart's own units: about its width in CSS pixels, so that its 11px
// text stays readable side by side and at phone width.
const W = 420;
const LABEL = 110;
const VALUE = 44;
const ROW = 22;
const BAR = 15;

function clip(s: string, n: number) {
  return s.length > n ? `${s.slice(0, n - 1)}…` : s;
}

// BarChart draws horizontal stacked bars: prompt tokens, then completion
// tokens, with the total at the end of each bar.
function BarChart({ title, bars }: { title: string; bars: Bar[] }) {
  const max = Math.max(1, ...bars.map((b) => b.prompt + b.completion));
  const span = W - LABEL - VALUE;
  const h = bars.length * ROW + 8;
  const summary = bars.map((b) => `${b.label}: ${num(b.prompt + b.completion)} tokens`).join("; ");
  return (
    <figure class="chart-box">
      <figcaption>{title}</figcaption>
      <svg class="chart" viewBox={`0 0 ${W} ${h}`} width="100%" role="img" aria-label={`${title}. ${summary}`}>
        {bars.map((b, i) => {
          const y = 4 + i * ROW;
          const pw = (b.prompt / max) * span;
          const cw = (b.completion / max) * span;
          return (
            <g key={b.label}>
              <title>{`${b.label}: ${num(b.prompt)} prompt + ${num(b.completion)} completion tokens, ${num(b.requests)} requests`}</title>
              <text x={LABEL - 6} y={y + BAR / 2} text-anchor="end" dominant-baseline="middle">
                {clip(b.label, 17)}
              </text>
              <rect class="bar" x={LABEL} y={y} width={Math.max(pw, b.prompt ? 1 : 0)} height={BAR} />
              <rect class="bar completion" x={LABEL + pw} y={y} width={Math.max(cw, b.completion ? 1 : 0)} height={BAR} />
              <text x={LABEL + pw + cw + 4} y={y + BAR / 2} dominant-baseline="middle">
                {short(b.prompt + b.completion)}
              </text>
            </g>
          );
        })}
      </svg>
    </figure>
  );
}

function Legend() {
  return (
    <p class="legend" aria-hidden="true">
      <svg class="chart" viewBox="0 0 12 12" width="12" height="12">
        <rect class="bar" x="0" y="0" width="12" height="12" />
      </svg>{" "}
      prompt tokens{" "}
      <svg class="chart" viewBox="0 0 12 12" width="12" height="12">
        <rect class="bar completion" x="0" y="0" width="12" height="12" />
      </svg>{" "}
      completion tokens
    </p>
  );
}

// dayStart is the start of a local calendar day (YYYY-MM-DD) as RFC 3339.
function dayStart(d: string, plusDays = 0): string {
  const t = new Date(`${d}T00:00:00`);
  t.setDate(t.getDate() + plusDays);
  return t.toISOString();
}

export function UsageTab() {
  const users = useUsers();
  const [who, setWho] = useState("");
  const [from, setFrom] = useState("");
  const [to, setTo] = useState("");
  const usage = useLoad(() => {
    const q = new URLSearchParams();
    if (who) q.set("user_id", who);
    if (from) q.set("since", dayStart(from));
    if (to) q.set("until", dayStart(to, 1));
    const qs = q.toString();
    return get<{ usage: UsageTotal[] }>(`/usage${qs ? `?${qs}` : ""}`).then((r) => r.usage);
  }, [who, from, to]);
  const rows = usage.data || [];
  const byUser = group(rows, (r) => users.name(r.user_id));
  const byModel = group(rows, (r) => r.model);
  const total = group(rows, () => "all")[0];
  const sorted = [...rows].sort((a, b) => b.prompt_tokens + b.completion_tokens - (a.prompt_tokens + a.completion_tokens));
  return (
    <section aria-labelledby="usage-h">
      <h2 id="usage-h">Usage</h2>
      <form class="row filters" onSubmit={(e) => e.preventDefault()}>
        <label for="usage-who">Whose</label>
        <select id="usage-who" value={who} onChange={(e) => setWho(e.currentTarget.value)}>
          <option value="">everyone</option>
          {(users.data || []).map((u) => (
            <option key={u.id} value={u.id}>
              {u.name}
            </option>
          ))}
        </select>
        <label for="usage-from">From</label>
        <input id="usage-from" type="date" value={from} max={to || undefined} onChange={(e) => setFrom(e.currentTarget.value)} />
        <label for="usage-to">To</label>
        <input id="usage-to" type="date" value={to} min={from || undefined} onChange={(e) => setTo(e.currentTarget.value)} />
      </form>
      <ErrorBox error={usage.error || users.error} />
      {!usage.data && !usage.error && <Loading what="usage" />}
      {usage.data && !rows.length && <p class="muted">No usage in this period.</p>}
      {usage.data && rows.length > 0 && total && (
        <>
          <p>
            {num(total.requests)} requests, {num(total.prompt + total.completion)} tokens ({num(total.prompt)} prompt, {num(total.completion)} completion).
          </p>
          <Legend />
          <div class="charts">
            <BarChart title="Tokens by user" bars={byUser} />
            <BarChart title="Tokens by model" bars={byModel} />
          </div>
          <table>
            <thead>
              <tr>
                <th scope="col">User</th>
                <th scope="col">Model</th>
                <th scope="col" class="n">
                  Requests
                </th>
                <th scope="col" class="n">
                  Prompt tokens
                </th>
                <th scope="col" class="n">
                  Completion tokens
                </th>
                <th scope="col" class="n">
                  Total tokens
                </th>
              </tr>
            </thead>
            <tbody>
              {sorted.map((r) => (
                <tr key={`${r.user_id}/${r.model}`}>
                  <td>{users.name(r.user_id)}</td>
                  <td>{r.model}</td>
                  <td class="n">{num(r.requests)}</td>
                  <td class="n">{num(r.prompt_tokens)}</td>
                  <td class="n">{num(r.completion_tokens)}</td>
                  <td class="n">{num(r.prompt_tokens + r.completion_tokens)}</td>
                </tr>
              ))}
            </tbody>
            <tfoot>
              <tr>
                <th scope="row" colSpan={2}>
                  Total
                </th>
                <td class="n">{num(total.requests)}</td>
                <td class="n">{num(total.prompt)}</td>
                <td class="n">{num(total.completion)}</td>
                <td class="n">{num(total.prompt + total.completion)}</td>
              </tr>
            </tfoot>
          </table>
        </>
      )}
    </section>
  );
}
