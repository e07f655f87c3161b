// signin.tsx: passkey sign-in (with a TOTP code where the account has one),
// first-admin bootstrap with the one-time token, accepting an invitation,
// and TOTP enrollment for a session the policy restricts until then.

import { useState } from "preact/hooks";
import { ApiError, del, get, post, useBearer, type SignedIn } from "./api";
import { afterSignIn, signIn, type Session } from "./session";
import { Button, ErrorBox, useAction } from "./ui";
import * as webauthn from "./webauthn";

type Done = (s: Session) => void;

function needsTOTP(e: unknown) {
  return e instanceof ApiError && e.type.endsWith(":totp-required");
}

export function SignIn({ onSession }: { onSession: Done }) {
  const [name, setName] = useState("");
  const [totp, setTotp] = useState("");
  const [askTotp, setAskTotp] = useState(false);
  const act = useAction(async () => {
    try {
      onSession(await signIn(name.trim(), totp.trim()));
    } catch (e) {
      if (needsTOTP(e)) {
        setAskTotp(true);
        throw new Error("This account needs a code from your authenticator app: enter it and sign in again.");
      }
      throw e;
    }
  });
  return (
    <main class="narrow">
      <h1>Sign in to silo</h1>
      {!webauthn.supported() && <p class="error">This browser does not support passkeys.</p>}
      <form
        onSubmit={(e) => {
          e.preventDefault();
          act.run();
        }}
      >
        <label for="signin-name">User name (optional with a discoverable passkey)</label>
        <input id="signin-name" value={name} onInput={(e) => setName(e.currentTarget.value)} autocomplete="username webauthn" />
        {askTotp && (
          <>
            <label for="signin-totp">Authenticator code</label>
            <input id="signin-totp" value={totp} onInput={(e) => setTotp(e.currentTarget.value)} inputMode="numeric" pattern="[0-9]{6}" autocomplete="one-time-code" />
          </>
        )}
        <Button type="submit" kind="primary" busy={act.busy}>
          Sign in with a passkey
        </Button>
      </form>
      <ErrorBox error={act.error} />
      <p class="muted">
        First start? <a href="#/bootstrap">Create the first admin</a> with the token silo printed. Invited? Open the link you were sent. Lost your passkey?{" "}
        <a href="#/recover">Recover with an API key</a> an admin made for you.
      </p>
    </main>
  );
}

export function Bootstrap({ onSession }: { onSession: Done }) {
  const [token, setToken] = useState("");
  const [name, setName] = useState("");
  const [email, setEmail] = useState("");
  const [apiKey, setApiKey] = useState("");
  const [session, setSession] = useState<Session | null>(null);
  const act = useAction(async () => {
    const body: Record<string, string> = { token: token.trim(), name: name.trim() };
    if (email.trim()) body.email = email.trim();
    const res = await post<{ key: { secret: string } }>("/bootstrap", body);
    // The admin's API key stands in until the first passkey exists.
    useBearer(res.key.secret);
    try {
      const options = await post("/passkeys/register/begin");
      const { credential } = await webauthn.create(options.options);
      await post("/passkeys/register/finish", { name: "First passkey", credential });
    } finally {
      useBearer("");
    }
    setApiKey(res.key.secret);
    setSession(await signIn(name.trim(), ""));
  });
  if (session) {
    return (
      <main class="narrow">
        <h1>Welcome, {session.user.name}</h1>
        <p>You are the first admin, signed in with your new passkey.</p>
        <p>
          Your API key, for the CLI and the OpenAI SDKs, is shown this once (silo keeps only its hash):
        </p>
        <pre class="secret" data-testid="bootstrap-api-key">{apiKey}</pre>
        <Button onClick={() => navigator.clipboard.writeText(apiKey)}>Copy</Button>{" "}
        <Button kind="primary" onClick={() => onSession(session)}>
          Continue
        </Button>
      </main>
    );
  }
  return (
    <main class="narrow">
      <h1>Create the first admin</h1>
      <p>
        Enter the one-time token <code>silo serve</code> printed at its first start. You will then make a passkey for this account.
      </p>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          act.run();
        }}
      >
        <label for="bs-token">One-time token</label>
        <input id="bs-token" required value={token} onInput={(e) => setToken(e.currentTarget.value)} autocomplete="off" />
        <label for="bs-name">Your user name</label>
        <input id="bs-name" required value={name} onInput={(e) => setName(e.currentTarget.value)} autocomplete="username" />
        <label for="bs-email">Email (optional)</label>
        <input id="bs-email" type="email" value={email} onInput={(e) => setEmail(e.currentTarget.value)} autocomplete="email" />
        <Button type="submit" kind="primary" busy={act.busy}>
          Create admin and passkey
        </Button>
      </form>
      <ErrorBox error={act.error} />
    </main>
  );
}

// Recover adds a passkey to an account whose passkeys are lost, with an API
// key an admin made for the user (Admin › API keys): the key stands in to
// register the passkey, then the page signs in with it and revokes the key.
export function Recover({ onSession }: { onSession: Done }) {
  const [key, setKey] = useState("");
  const [done, setDone] = useState<Session | null>(null);
  const act = useAction(async () => {
    const secret = key.trim();
    useBearer(secret);
    let name: string;
    try {
      name = (await get<{ name: string }>("/me")).name;
      const options = await post("/passkeys/register/begin");
      const { credential } = await webauthn.create(options.options);
      await post("/passkeys/register/finish", { name: "Recovered", credential });
    } finally {
      useBearer("");
    }
    const session = await signIn(name, "");
    // The key did its job: revoke it (only if exactly one key matches).
    const { keys } = await get<{ keys: { id: string; prefix: string; revoked: boolean }[] }>("/keys");
    const used = keys.filter((k) => !k.revoked && secret.startsWith(k.prefix));
    setKey("");
    if (used.length === 1) {
      await del(`/keys/${used[0].id}`);
      onSession(session);
      return;
    }
    setDone(session);
  });
  if (done) {
    return (
      <main class="narrow">
        <h1>Signed in</h1>
        <p role="status">Your new passkey works. The API key you used could not be told apart from your others: revoke it under Account › API keys.</p>
        <Button kind="primary" onClick={() => onSession(done)}>
          Continue
        </Button>
      </main>
    );
  }
  return (
    <main class="narrow">
      <h1>Recover your account</h1>
      <p>
        Ask an admin for a new API key of your account (Admin › API keys). It lets this browser add a passkey to your account; the key is revoked once you are
        signed in.
      </p>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          act.run();
        }}
      >
        <label for="recover-key">API key</label>
        <input id="recover-key" required value={key} onInput={(e) => setKey(e.currentTarget.value)} autocomplete="off" spellcheck={false} />
        <Button type="submit" kind="primary" busy={act.busy}>
          Add a passkey and sign in
        </Button>
      </form>
      <ErrorBox error={act.error} />
    </main>
  );
}

export function Invite({ token, onSession }: { token: string; onSession: Done }) {
  const [name, setName] = useState("");
  const [email, setEmail] = useState("");
  const act = useAction(async () => {
    const body: Record<string, string> = { token, name: name.trim() };
    if (email.trim()) body.email = email.trim();
    const options = await post("/invitations/accept/begin", body);
    const { credential, prf } = await webauthn.create(options.options);
    const signed = await post<SignedIn>("/invitations/accept/finish", { token, passkey_name: "First passkey", credential });
    onSession(await afterSignIn(signed, prf));
  });
  return (
    <main class="narrow">
      <h1>Join silo</h1>
      <p>You were invited. Choose a user name; you will make a passkey to sign in with.</p>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          act.run();
        }}
      >
        <label for="inv-name">User name</label>
        <input id="inv-name" required value={name} onInput={(e) => setName(e.currentTarget.value)} autocomplete="username" />
        <label for="inv-email">Email (if the invitation names one, the same)</label>
        <input id="inv-email" type="email" value={email} onInput={(e) => setEmail(e.currentTarget.value)} autocomplete="email" />
        <Button type="submit" kind="primary" busy={act.busy}>
          Accept and make a passkey
        </Button>
      </form>
      <ErrorBox error={act.error} />
    </main>
  );
}

// EnrollTOTP is all a restricted session can do: the sign-in policy asks
// for TOTP and this account has none yet.
export function EnrollTOTP({ onDone, title }: { onDone: () => void; title?: string }) {
  const [enrollment, setEnrollment] = useState<{ secret: string; url: string } | null>(null);
  const [code, setCode] = useState("");
  const [on, setOn] = useState(false);
  const start = useAction(async () => {
    try {
      setEnrollment(await post("/totp"));
    } catch (e) {
      // 409: this account has TOTP already.
      if (e instanceof ApiError && e.status === 409) setOn(true);
      else throw e;
    }
  });
  const confirm = useAction(async () => {
    await post("/totp/confirm", { code: code.trim() });
    setOn(true);
    onDone();
  });
  if (on) {
    return (
      <section>
        <h2>{title || "Two-factor authentication"}</h2>
        <p role="status">Two-factor sign-in is on: every sign-in asks for a code from your authenticator app. An admin can reset it if you lose the app.</p>
      </section>
    );
  }
  return (
    <section>
      <h2>{title || "Two-factor authentication"}</h2>
      {!enrollment ? (
        <>
          <p>Add silo to an authenticator app (TOTP): it will ask for a 6-digit code at every sign-in.</p>
          <Button kind="primary" busy={start.busy} onClick={() => start.run()}>
            Set up an authenticator app
          </Button>
          <ErrorBox error={start.error} />
        </>
      ) : (
        <form
          onSubmit={(e) => {
            e.preventDefault();
            confirm.run();
          }}
        >
          <p>Enter this secret in your authenticator app (or open the link on a phone that has one):</p>
          <pre class="secret" data-testid="totp-secret">{enrollment.secret}</pre>
          <p>
            <a href={enrollment.url}>Open in authenticator app</a>
          </p>
          <label for="totp-code">Code from the app</label>
          <input id="totp-code" required value={code} onInput={(e) => setCode(e.currentTarget.value)} inputMode="numeric" pattern="[0-9]{6}" autocomplete="one-time-code" />
          <Button type="submit" kind="primary" busy={confirm.busy}>
            Confirm
          </Button>
          <ErrorBox error={confirm.error} />
        </form>
      )}
    </section>
  );
}
