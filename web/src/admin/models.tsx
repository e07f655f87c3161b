// models.tsx is the Models tab: every model with its provenance status
// (verified, unverified, refused and why), one model's details (file,
// digest, GGUF metadata, certificate, transparency-log inclusion), delete,
// and pulling a model with live progress read from the pull's
// server-sent events.

import { useRef, useState } from "preact/hooks";
import { ApiError, del, get, headers, problem, sse, type Model } from "../api";
import { Badge, Button, ErrorBox, Loading, bytes, useAction, useLoad, when, Confirm } from "../ui";
import { CopyButton, duration, short } from "./common";

export function ModelsTab({ model }: { model?: string }) {
  if (model) return <ModelDetail name={model} />;
  return <ModelList />;
}

function ModelList() {
  const list = useLoad(() => get<{ models: Model[] }>("/models").then((r) => r.models));
  const remove = useAction(async (name: string) => {
    await del(`/models/${encodeURIComponent(name)}`);
    list.reload();
  });
  return (
    <>
      <section aria-labelledby="models-h">
        <h2 id="models-h">Models</h2>
        {list.data ? (
          list.data.length ? (
            <table class="stack">
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col">Provenance</th>
                  <th scope="col">Engine</th>
                  <th scope="col">Served</th>
                  <th scope="col">
                    <span class="visually-hidden">Actions</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {list.data.map((m) => {
                  const local = m.status !== undefined; // in the models directory
                  return (
                    <tr key={`${m.engine}/${m.id}`} class={m.served === false ? "dim" : undefined}>
                      <th scope="row">
                        {local ? <a href={`#/admin/models/${encodeURIComponent(m.id)}`}>{m.id}</a> : m.id}
                      </th>
                      <td data-label="Provenance">
                        {m.status ? <Badge status={m.status} title={m.reason} /> : <span class="muted">—</span>}
                        {m.reason && <div class="reason muted">{m.reason}</div>}
                      </td>
                      <td data-label="Engine">{m.engine}</td>
                      <td data-label="Served">{m.served === false ? "no" : "yes"}</td>
                      <td>
                        {local && (
                          <Confirm label={`Delete model ${m.id}`} confirmLabel={`Delete ${m.id} and its certificate`} busy={remove.busy} onConfirm={() => remove.run(m.id)}>
                            Delete
                          </Confirm>
                        )}
                      </td>
                    </tr>
                  );
                })}
              </tbody>
            </table>
          ) : (
            <p class="muted">No models yet: pull one below.</p>
          )
        ) : (
          !list.error && <Loading what="models" />
        )}
        <ErrorBox error={list.error || remove.error} />
      </section>
      <Pull onDone={list.reload} />
    </>
  );
}

interface Progress {
  done: number;
  total: number;
  rate: number;
  eta_seconds: number;
}

interface Pulled {
  name: string;
  size: number;
  sha256: string;
}

function Pull({ onDone }: { onDone: () => void }) {
  const [source, setSource] = useState("");
  const [name, setName] = useState("");
  const [sha, setSha] = useState("");
  const [force, setForce] = useState(false);
  const [progress, setProgress] = useState<Progress | null>(null);
  const [pulled, setPulled] = useState<Pulled | null>(null);
  const abort = useRef<AbortController | null>(null);
  const pull = useAction(async () => {
    setPulled(null);
    setProgress(null);
    const body: Record<string, unknown> = { source: source.trim() };
    if (name.trim()) body.name = name.trim();
    if (sha.trim()) body.sha256 = sha.trim().toLowerCase();
    if (force) body.force = true;
    const ctl = new AbortController();
    abort.current = ctl;
    try {
      const res = await fetch("/api/v1/models/pull", {
        method: "POST",
        headers: headers({ "Content-Type": "application/json", Accept: "text/event-stream" }),
        credentials: "same-origin",
        body: JSON.stringify(body),
        signal: ctl.signal,
      });
      if (!res.ok) throw await problem(res);
      let outcome: Pulled | ApiError | null = null;
      await sse(res, (event, data) => {
        const v = JSON.parse(data);
        if (event === "progress") setProgress(v as Progress);
        else if (event === "done") outcome = v as Pulled;
        else if (event === "error") outcome = new ApiError(v.status || 502, v.type || "about:blank", v.title || "Pull failed", v.detail || "");
      });
      const o = outcome as Pulled | ApiError | null;
      if (o instanceof ApiError) throw o;
      if (!o) throw new Error("the connection closed before the pull finished; pull again to resume");
      setPulled(o);
      setProgress((x) => ({ done: o.size, total: o.size, rate: x?.rate || 0, eta_seconds: 0 }));
      onDone();
    } catch (e) {
      if (ctl.signal.aborted) throw new Error("stopped; pull again to resume the download");
      throw e;
    } finally {
      abort.current = null;
    }
  });
  const p = progress;
  const known = !!p && p.total > 0;
  return (
    <section aria-labelledby="pull-h">
      <h2 id="pull-h">Pull a model</h2>
      <p class="muted">From an http(s) URL or hf://org/repo/file.gguf (Hugging Face; hf://org/repo@revision/file.gguf for another revision). An interrupted download resumes.</p>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          pull.run();
        }}
      >
        <label for="pull-source">Source URL</label>
        <input id="pull-source" required type="text" inputMode="url" value={source} onInput={(e) => setSource(e.currentTarget.value)} placeholder="hf://org/repo/model.gguf" autocomplete="off" spellcheck={false} />
        <label for="pull-name">Model name</label>
        <input id="pull-name" value={name} onInput={(e) => setName(e.currentTarget.value)} maxLength={128} placeholder="taken from the file name when empty" autocomplete="off" spellcheck={false} />
        <label for="pull-sha">Expected SHA-256 (optional)</label>
        <input id="pull-sha" value={sha} onInput={(e) => setSha(e.currentTarget.value)} maxLength={64} class="mono" autocomplete="off" spellcheck={false} />
        <label class="check">
          <input type="checkbox" checked={force} onChange={(e) => setForce(e.currentTarget.checked)} /> Replace a model of the same name
        </label>
        <div class="row">
          <Button type="submit" kind="primary" busy={pull.busy}>
            Pull
          </Button>
          {pull.busy && <Button onClick={() => abort.current?.abort()}>Stop</Button>}
        </div>
      </form>
      {(pull.busy || p) && (
        <div class="pulling" role="status">
          {known ? (
            <progress data-testid="pull-progress" value={p.done} max={p.total} />
          ) : (
            <progress data-testid="pull-progress" />
          )}
          <p>
            {p ? (
              <>
                {bytes(p.done)}
                {known && <> of {bytes(p.total)} ({Math.floor((100 * p.done) / p.total)}%)</>} · {bytes(p.rate)}/s{known && p.eta_seconds > 0 && <> · {duration(p.eta_seconds)} left</>}
              </>
            ) : (
              "Starting…"
            )}
          </p>
        </div>
      )}
      {pulled && (
        <div class="notice" data-testid="pull-done" role="status">
          Pulled <a href={`#/admin/models/${encodeURIComponent(pulled.name)}`}>{pulled.name}</a> ({bytes(pulled.size)}), SHA-256 <code class="wrap">{pulled.sha256}</code>
        </div>
      )}
      <ErrorBox error={pull.error} />
    </section>
  );
}

interface Detail {
  name: string;
  size: number;
  modified: string;
  architecture?: string;
  type?: string;
  parameters?: number;
  sha256?: string;
  served: boolean;
  status: "verified" | "unverified" | "refused";
  reason: string;
  signers?: string[];
  error?: string;
  metadata?: Record<string, unknown>;
  certificate?: Statement;
  log?: { index: number; tree_size: number; checkpoint: string };
}

interface Descriptor {
  name?: string;
  uri?: string;
  digest?: Record<string, string>;
  downloadLocation?: string;
}

interface Statement {
  _type?: string;
  subject?: Descriptor[];
  predicateType?: string;
  predicate?: {
    buildDefinition?: { buildType?: string; externalParameters?: Record<string, unknown>; resolvedDependencies?: Descriptor[] };
    runDetails?: { builder?: { id?: string }; metadata?: { invocationId?: string; startedOn?: string; finishedOn?: string } };
  };
}

function describe(d: Descriptor): string {
  const digest = d.digest ? Object.entries(d.digest).map(([k, v]) => `${k}:${v.slice(0, 16)}…`) : [];
  return [d.name, d.uri || d.downloadLocation, ...digest].filter(Boolean).join(" · ");
}

function value(v: unknown): string {
  return typeof v === "string" ? v : JSON.stringify(v);
}

function Certificate({ s }: { s: Statement }) {
  const bd = s.predicate?.buildDefinition;
  const rd = s.predicate?.runDetails;
  return (
    <>
      <dl>
        <dt>Statement</dt>
        <dd>{s._type || "—"}</dd>
        <dt>Predicate</dt>
        <dd>{s.predicateType || "—"}</dd>
        <dt>Subjects</dt>
        <dd>
          <ul class="plain">
            {(s.subject || []).map((d, i) => (
              <li key={i}>
                <code class="wrap">{describe(d)}</code>
              </li>
            ))}
          </ul>
        </dd>
        {bd?.buildType && (
          <>
            <dt>Build type</dt>
            <dd>{bd.buildType}</dd>
          </>
        )}
        {rd?.builder?.id && (
          <>
            <dt>Builder</dt>
            <dd>{rd.builder.id}</dd>
          </>
        )}
        {(rd?.metadata?.startedOn || rd?.metadata?.finishedOn) && (
          <>
            <dt>Run</dt>
            <dd>
              {when(rd.metadata.startedOn)} – {when(rd.metadata.finishedOn)}
            </dd>
          </>
        )}
        {bd?.externalParameters && Object.keys(bd.externalParameters).length > 0 && (
          <>
            <dt>Parameters</dt>
            <dd>
              <ul class="plain">
                {Object.entries(bd.externalParameters).map(([k, v]) => (
                  <li key={k}>
                    {k}: <code class="wrap">{value(v)}</code>
                  </li>
                ))}
              </ul>
            </dd>
          </>
        )}
        {bd?.resolvedDependencies && bd.resolvedDependencies.length > 0 && (
          <>
            <dt>Inputs</dt>
            <dd>
              <ul class="plain">
                {bd.resolvedDependencies.map((d, i) => (
                  <li key={i}>
                    <code class="wrap">{describe(d)}</code>
                  </li>
                ))}
              </ul>
            </dd>
          </>
        )}
      </dl>
      <details>
        <summary>The whole statement</summary>
        <pre>{JSON.stringify(s, null, 2)}</pre>
      </details>
    </>
  );
}

function ModelDetail({ name }: { name: string }) {
  const d = useLoad(() => get<Detail>(`/models/${encodeURIComponent(name)}`), [name]);
  const remove = useAction(async () => {
    await del(`/models/${encodeURIComponent(name)}`);
    location.hash = "#/admin/models";
  });
  const m = d.data && d.data.name === name ? d.data : undefined;
  return (
    <section aria-labelledby="model-h">
      <p>
        <a href="#/admin/models">← All models</a>
      </p>
      <h2 id="model-h">{name}</h2>
      <ErrorBox error={d.error} />
      {!m && !d.error && <Loading what="the model" />}
      {m && (
        <>
          <dl>
            <dt>Provenance</dt>
            <dd>
              <Badge status={m.status} title={m.reason} /> {m.served ? "served" : "not served"}
            </dd>
            <dt>Why</dt>
            <dd>{m.reason || "—"}</dd>
            <dt>Signed by</dt>
            <dd>{m.signers?.length ? m.signers.join(", ") : "—"}</dd>
            <dt>Size</dt>
            <dd>
              {bytes(m.size)} <span class="muted">({m.size.toLocaleString()} bytes)</span>
            </dd>
            <dt>Modified</dt>
            <dd>{when(m.modified)}</dd>
            <dt>SHA-256</dt>
            <dd>
              {m.sha256 ? (
                <>
                  <code class="wrap">{m.sha256}</code> <CopyButton text={m.sha256} label="Copy SHA-256" />
                </>
              ) : (
                "—"
              )}
            </dd>
            <dt>Architecture</dt>
            <dd>{m.architecture || "—"}</dd>
            <dt>Type</dt>
            <dd>{m.type || "—"}</dd>
            <dt>Parameters</dt>
            <dd>{m.parameters ? `${short(m.parameters)} (${m.parameters.toLocaleString()})` : "—"}</dd>
            {m.error && (
              <>
                <dt>Unreadable</dt>
                <dd class="error">{m.error}</dd>
              </>
            )}
          </dl>
          <h3>Certificate</h3>
          {m.certificate ? <Certificate s={m.certificate} /> : <p class="muted">No certificate that meets the trust policy.</p>}
          <h3>Transparency log</h3>
          {m.log ? (
            <>
              <p>
                The certificate is entry {m.log.index.toLocaleString()} of {m.log.tree_size.toLocaleString()} in silo's log.
              </p>
              <details>
                <summary>Checkpoint</summary>
                <pre>{m.log.checkpoint}</pre>
              </details>
            </>
          ) : (
            <p class="muted">Not in the log.</p>
          )}
          {m.metadata && (
            <>
              <h3>GGUF metadata</h3>
              <details>
                <summary>{Object.keys(m.metadata).length} keys</summary>
                <table>
                  <thead>
                    <tr>
                      <th scope="col">Key</th>
                      <th scope="col">Value</th>
                    </tr>
                  </thead>
                  <tbody>
                    {Object.entries(m.metadata)
                      .sort(([a], [b]) => a.localeCompare(b))
                      .map(([k, v]) => (
                        <tr key={k}>
                          <th scope="row">
                            <code>{k}</code>
                          </th>
                          <td class="wrap-cell">{value(v)}</td>
                        </tr>
                      ))}
                  </tbody>
                </table>
              </details>
            </>
          )}
          <p>
            <Confirm label={`Delete model ${name}`} confirmLabel={`Delete ${name} and its certificate`} busy={remove.busy} onConfirm={() => remove.run()}>
              Delete model
            </Confirm>
          </p>
          <ErrorBox error={remove.error} />
        </>
      )}
    </section>
  );
}
