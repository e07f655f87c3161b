// chat.tsx is the chat page: the conversation list, the model picker with
// each model's provenance status, an optional system prompt, and answers
// streamed token by token from /v1/chat/completions. Each exchange names
// its conversation (X-Silo-Conversation), so the server stores it sealed to
// this user's device keys; the history is opened here, in the browser,
// with the device key (devicekey.ts). The server never sees it in the clear
// after the answer is sent.

import { useEffect, useRef, useState } from "preact/hooks";
import { ApiError, del, get, headers, post, problem, sse, type Model } from "./api";
import { open, type Message } from "./devicekey";
import { render } from "./markdown";
import type { Session } from "./session";
import { Badge, Button, Confirm, ErrorBox, errorText, useAction, useLoad, when } from "./ui";

interface Conversation {
  id: string;
  created_at: string;
}

interface Sealed {
  id: string;
  seq: number;
  role: "user" | "assistant";
  sealed: string;
  created_at: string;
}

interface Shown {
  role: "user" | "assistant";
  content: string;
  model?: string;
  time?: string;
  locked?: boolean; // sealed to keys this browser does not hold
  stopped?: boolean; // the user stopped it: not stored
  streaming?: boolean;
  regenerated?: number; // earlier answers to the same prompt
}

// openHistory opens every stored message it can with the device key.
// A prompt sent again right after its answer is a regeneration: the earlier
// pair is folded into the later one.
async function openHistory(session: Session, conv: string): Promise<Shown[]> {
  const { messages } = await get<{ messages: Sealed[] }>(`/conversations/${conv}/messages?limit=1000`);
  const out: Shown[] = [];
  for (const m of messages) {
    let shown: Shown;
    try {
      if (!session.key) throw new Error("no device key");
      const msg: Message = await open(session.key.identity, m.sealed, conv);
      shown = { role: msg.role, content: msg.content, model: msg.model, time: msg.time };
    } catch {
      shown = { role: m.role, content: "", time: m.created_at, locked: true };
    }
    const n = out.length;
    if (shown.role === "user" && !shown.locked && n >= 2 && out[n - 1].role === "assistant" && out[n - 2].role === "user" && !out[n - 2].locked && out[n - 2].content === shown.content) {
      const prev = out.splice(n - 2, 2);
      out.push(shown);
      shown.regenerated = (prev[1].regenerated || 0) + 1;
      continue;
    }
    if (shown.role === "assistant" && n >= 1 && out[n - 1].regenerated) {
      shown.regenerated = out[n - 1].regenerated;
      out[n - 1].regenerated = undefined;
    }
    out.push(shown);
  }
  return out;
}

function systemKey(conv: string) {
  return `silo-system:${conv}`;
}

function title(msgs: Shown[] | undefined): string | undefined {
  const first = msgs?.find((m) => m.role === "user" && !m.locked);
  return first ? first.content.slice(0, 60) : undefined;
}

export function Chat({ session, conversation }: { session: Session; conversation?: string }) {
  const models = useLoad(() => get<{ models: Model[] }>("/models"));
  const convs = useLoad(() => get<{ conversations: Conversation[] }>("/conversations"));
  // Without the organisation's admin key nothing can be stored sealed, so
  // chats are refused: tell an admin where to set it.
  const adminKey = useLoad(() =>
    session.user.role === "admin"
      ? get("/keys/admin").then(
          () => true,
          (e) => (e instanceof ApiError && e.status === 404 ? false : true),
        )
      : Promise.resolve(true),
  );
  const [titles, setTitles] = useState<Record<string, string>>({});
  const [current, setCurrent] = useState<string | undefined>(conversation);
  const [messages, setMessages] = useState<Shown[]>([]);
  const [loadError, setLoadError] = useState<unknown>(null);
  const [model, setModel] = useState(() => localStorage.getItem("silo-model") || "");
  const [system, setSystem] = useState("");
  const [showSystem, setShowSystem] = useState(false);
  // Sampling settings, kept in this browser: empty means the server's default.
  const [maxTokens, setMaxTokens] = useState(() => localStorage.getItem("silo-max-tokens") || "");
  const [temperature, setTemperature] = useState(() => localStorage.getItem("silo-temperature") || "");
  const setting = (key: string, set: (v: string) => void) => (v: string) => {
    set(v);
    if (v) localStorage.setItem(key, v);
    else localStorage.removeItem(key);
  };
  const [input, setInput] = useState("");
  const [sendError, setSendError] = useState<unknown>(null);
  const [streaming, setStreaming] = useState(false);
  const abort = useRef<AbortController | null>(null);
  const log = useRef<HTMLDivElement>(null);

  // embeddings says a model can also embed; every served model can chat.
  const chatModels = (models.data?.models || []).filter((m) => m.served !== false);
  const picked = chatModels.find((m) => m.id === model) || chatModels[0];

  // turn numbers each exchange this page sends; an exchange whose number is
  // no longer current (the user opened another conversation meanwhile)
  // changes nothing on the page. created is the conversation an exchange
  // has just made, whose history is the page's own.
  const turn = useRef(0);
  const created = useRef<string | undefined>(undefined);

  // switchTo shows conversation c (undefined: a new chat), leaving any
  // answer still streaming: it is stopped, and not stored.
  const switchTo = (c: string | undefined) => {
    turn.current++;
    abort.current?.abort();
    abort.current = null;
    setStreaming(false);
    created.current = undefined;
    setCurrent(c);
  };
  useEffect(() => {
    if (conversation !== current) switchTo(conversation);
  }, [conversation]);

  // Open the chosen conversation's history.
  useEffect(() => {
    setLoadError(null);
    if (!current) {
      setMessages([]);
      setSystem(localStorage.getItem("silo-system:new") || "");
      return;
    }
    if (created.current === current) return;
    setSystem(localStorage.getItem(systemKey(current)) || "");
    let live = true;
    openHistory(session, current).then(
      (m) => {
        if (!live) return;
        setMessages(m);
        const t = title(m);
        if (t) setTitles((x) => ({ ...x, [current]: t }));
      },
      (e) => live && setLoadError(e),
    );
    return () => {
      live = false;
    };
  }, [current, session.key?.recipient]);

  // Titles come from each conversation's first message, opened here.
  useEffect(() => {
    const list = convs.data?.conversations || [];
    for (const c of list) {
      if (titles[c.id] !== undefined) continue;
      get<{ messages: Sealed[] }>(`/conversations/${c.id}/messages?limit=1`)
        .then(async ({ messages: ms }) => {
          let t = "(empty)";
          if (ms.length && session.key) {
            try {
              t = (await open(session.key.identity, ms[0].sealed, c.id)).content.slice(0, 60);
            } catch {
              t = "(sealed to another key)";
            }
          } else if (ms.length) t = "(locked)";
          setTitles((x) => ({ ...x, [c.id]: t }));
        })
        .catch(() => setTitles((x) => ({ ...x, [c.id]: "(unavailable)" })));
    }
  }, [convs.data]);

  useEffect(() => {
    log.current?.scrollTo({ top: log.current.scrollHeight });
  }, [messages]);

  const saveSystem = (v: string) => {
    setSystem(v);
    const k = current ? systemKey(current) : "silo-system:new";
    if (v) localStorage.setItem(k, v);
    else localStorage.removeItem(k);
  };

  // send streams an answer to turns (which ends with the user's prompt).
  const send = async (turns: Shown[]) => {
    if (!picked) {
      setSendError(new Error("no model is available"));
      return;
    }
    setSendError(null);
    const mine = ++turn.current;
    let conv = current;
    if (!conv) {
      conv = (await post<Conversation>("/conversations")).id;
      if (turn.current !== mine) return;
      if (system) localStorage.setItem(systemKey(conv), system);
      localStorage.removeItem("silo-system:new");
      created.current = conv;
      setCurrent(conv);
      window.history.replaceState(null, "", `#/chat/${conv}`);
      convs.reload();
    }
    const msgs = [...(system ? [{ role: "system", content: system }] : []), ...turns.filter((m) => !m.locked && !m.stopped).map((m) => ({ role: m.role, content: m.content }))];
    const answer: Shown = { role: "assistant", content: "", model: picked.id, streaming: true };
    const show = (a: Shown) => turn.current === mine && setMessages([...turns, { ...a }]);
    show(answer);
    setStreaming(true);
    const ctrl = new AbortController();
    abort.current = ctrl;
    try {
      const res = await fetch("/v1/chat/completions", {
        method: "POST",
        credentials: "same-origin",
        signal: ctrl.signal,
        headers: headers({ "Content-Type": "application/json", "X-Silo-Conversation": conv }),
        body: JSON.stringify({
          model: picked.id,
          messages: msgs,
          stream: true,
          ...(maxTokens ? { max_tokens: Number(maxTokens) } : {}),
          ...(temperature ? { temperature: Number(temperature) } : {}),
        }),
      });
      if (!res.ok) throw await problem(res);
      await sse(res, (_event, data) => {
        if (data === "[DONE]") return;
        const chunk = JSON.parse(data);
        if (chunk.error) throw new Error(chunk.error.message || "the server ended the answer with an error");
        const delta = chunk.choices?.[0]?.delta?.content;
        if (delta) {
          answer.content += delta;
          show(answer);
        }
      });
      answer.streaming = false;
      show(answer);
      const first = turns.find((m) => m.role === "user")?.content.slice(0, 60);
      if (first) setTitles((x) => (x[conv] && x[conv] !== "(empty)" ? x : { ...x, [conv]: first }));
    } catch (e) {
      answer.streaming = false;
      if (ctrl.signal.aborted) answer.stopped = true;
      else if (turn.current === mine) setSendError(e);
      show(answer);
    } finally {
      if (turn.current === mine) {
        setStreaming(false);
        abort.current = null;
      }
    }
  };

  const submit = () => {
    const text = input.trim();
    if (!text || streaming) return;
    setInput("");
    send([...messages.filter((m) => !m.stopped), { role: "user", content: text }]).catch(setSendError);
  };

  const remove = useAction(async () => {
    if (!current) return;
    await del(`/conversations/${current}`);
    localStorage.removeItem(systemKey(current));
    setCurrent(undefined);
    setMessages([]);
    location.hash = "#/chat";
    convs.reload();
  });

  const regenerate = () => {
    const lastUser = messages.map((m) => m.role).lastIndexOf("user");
    if (lastUser < 0 || streaming) return;
    send(messages.slice(0, lastUser + 1)).catch(setSendError);
  };

  const list = [...(convs.data?.conversations || [])].sort((a, b) => b.created_at.localeCompare(a.created_at));
  const lastAssistant = messages.map((m) => m.role).lastIndexOf("assistant");

  return (
    <div class="chat">
      <aside class="conversations" aria-label="Conversations">
        <a class="btn primary" href="#/chat" onClick={() => switchTo(undefined)}>
          New chat
        </a>
        <ErrorBox error={convs.error} />
        <ul>
          {list.map((c) => (
            <li key={c.id}>
              <a href={`#/chat/${c.id}`} aria-current={c.id === current ? "page" : undefined} title={when(c.created_at)}>
                {titles[c.id] ?? "…"}
              </a>
            </li>
          ))}
        </ul>
      </aside>
      <main class="thread">
        {adminKey.data === false && (
          <p class="warning" role="status" data-testid="admin-key-warning">
            Chats are stored sealed to the organisation's admin key, which is not set yet, so none can be sent. <a href="#/admin/sealing">Set the admin key</a>
          </p>
        )}
        {session.keyState !== "live" && (
          <p class="warning" role="status" data-testid="key-warning">
            {session.keyState === "revoked"
              ? "This browser's device key was revoked: new messages are not sealed to it, so they cannot be opened here. "
              : "This browser has no registered device key: new messages cannot be opened here. "}
            <a href="#/account">Manage device keys</a>
          </p>
        )}
        <div class="toolbar">
          <label for="model">Model</label>
          <select
            id="model"
            value={picked?.id || ""}
            onChange={(e) => {
              setModel(e.currentTarget.value);
              localStorage.setItem("silo-model", e.currentTarget.value);
            }}
          >
            {chatModels.map((m) => (
              <option key={m.id} value={m.id}>
                {m.id}
              </option>
            ))}
          </select>
          {picked && <Badge status={picked.status || "unverified"} title={picked.reason || (picked.engine === "builtin" ? "" : `served by ${picked.engine}`)} />}
          <Button onClick={() => setShowSystem(!showSystem)}>{showSystem ? "Hide settings" : "Settings"}</Button>
          {current && !streaming && (
            <Confirm label="Delete this conversation" confirmLabel="Delete it for good" busy={remove.busy} onConfirm={() => remove.run()}>
              Delete
            </Confirm>
          )}
        </div>
        <ErrorBox error={remove.error} />
        <ErrorBox error={models.error} />
        {showSystem && (
          <div class="system">
            <label for="system">System prompt (kept in this browser only)</label>
            <textarea id="system" rows={3} value={system} onInput={(e) => saveSystem(e.currentTarget.value)} />
            <div class="row">
              <label for="max-tokens">Max answer tokens</label>
              <input id="max-tokens" type="number" min={1} max={1000000} placeholder="default" value={maxTokens} onInput={(e) => setting("silo-max-tokens", setMaxTokens)(e.currentTarget.value)} />
              <label for="temperature">Temperature</label>
              <input id="temperature" type="number" min={0} max={2} step={0.1} placeholder="default" value={temperature} onInput={(e) => setting("silo-temperature", setTemperature)(e.currentTarget.value)} />
            </div>
          </div>
        )}
        <ErrorBox error={loadError} />
        <div class="log" ref={log} aria-live="polite" aria-busy={streaming ? "true" : "false"} data-testid="messages">
          {messages.length === 0 && !current && <p class="muted">Ask anything. Your conversation is sealed to your keys before it is stored.</p>}
          {messages.map((m, i) => (
            <article key={i} class={`msg ${m.role}`} data-role={m.role} data-testid={`msg-${m.role}`}>
              <header>
                <span>{m.role === "user" ? "You" : m.model || "assistant"}</span>
                {m.regenerated ? <span class="muted"> · regenerated ({m.regenerated} earlier)</span> : null}
                {m.stopped && <span class="muted"> · stopped, not saved</span>}
                {m.streaming && <span class="muted"> · answering…</span>}
              </header>
              {m.locked ? (
                <p class="muted locked" data-testid="locked">
                  Sealed to keys this browser does not hold.
                </p>
              ) : m.role === "assistant" ? (
                <div class="md" dangerouslySetInnerHTML={{ __html: render(m.content) }} />
              ) : (
                <p class="plain-text">{m.content}</p>
              )}
              {!m.locked && !m.streaming && (
                <div class="actions">
                  <Button label={`Copy ${m.role === "user" ? "prompt" : "answer"}`} onClick={() => navigator.clipboard.writeText(m.content).catch(() => undefined)}>
                    Copy
                  </Button>
                  {i === lastAssistant && !streaming && <Button onClick={regenerate}>Regenerate</Button>}
                </div>
              )}
            </article>
          ))}
        </div>
        <ErrorBox error={sendError ? new Error(errorText(sendError)) : null} />
        <form
          class="composer"
          onSubmit={(e) => {
            e.preventDefault();
            submit();
          }}
        >
          <label for="prompt" class="visually-hidden">
            Message
          </label>
          <textarea
            id="prompt"
            rows={3}
            placeholder="Message (Enter sends, Shift+Enter for a new line)"
            value={input}
            onInput={(e) => setInput(e.currentTarget.value)}
            onKeyDown={(e) => {
              if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
                e.preventDefault();
                submit();
              }
            }}
          />
          {streaming ? (
            <Button kind="danger" onClick={() => abort.current?.abort()}>
              Stop
            </Button>
          ) : (
            <Button type="submit" kind="primary" disabled={!input.trim() || !picked}>
              Send
            </Button>
          )}
        </form>
      </main>
    </div>
  );
}
