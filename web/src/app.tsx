// app.tsx is the shell: it resumes the session, routes on the URL's hash
// (#/chat/ID, #/account, #/admin/TAB, #/bootstrap, #/invite/TOKEN) and draws
// the header with the theme switch.

import { useEffect, useState } from "preact/hooks";
import { Account } from "./account";
import { Admin } from "./admin/admin";
import { Chat } from "./chat";
import { resume, signOut, type Session } from "./session";
import { Bootstrap, EnrollTOTP, Invite, Recover, SignIn } from "./signin";
import { ErrorBox, Loading } from "./ui";

function useHash(): string[] {
  const read = () => (location.hash.replace(/^#\/?/, "") || "chat").split("/").map(decodeURIComponent);
  const [parts, setParts] = useState(read);
  useEffect(() => {
    const on = () => setParts(read());
    window.addEventListener("hashchange", on);
    return () => window.removeEventListener("hashchange", on);
  }, []);
  return parts;
}

type Theme = "light" | "dark" | "system";

function useTheme(): [Theme, (t: Theme) => void] {
  const [theme, setTheme] = useState<Theme>(() => (localStorage.getItem("silo-theme") as Theme) || "system");
  useEffect(() => {
    if (theme === "system") {
      document.documentElement.removeAttribute("data-theme");
      localStorage.removeItem("silo-theme");
    } else {
      document.documentElement.setAttribute("data-theme", theme);
      localStorage.setItem("silo-theme", theme);
    }
  }, [theme]);
  return [theme, setTheme];
}

export function App() {
  const [session, setSession] = useState<Session | null | undefined>(undefined);
  const [error, setError] = useState<unknown>(null);
  const [theme, setTheme] = useTheme();
  const route = useHash();

  const refresh = () =>
    resume().then(
      (s) => setSession(s),
      (e) => setError(e),
    );
  useEffect(() => {
    refresh();
  }, []);

  const themeSwitch = (
    <label class="theme">
      <span class="visually-hidden">Theme</span>
      <select value={theme} onChange={(e) => setTheme(e.currentTarget.value as Theme)} aria-label="Theme">
        <option value="system">System theme</option>
        <option value="light">Light</option>
        <option value="dark">Dark</option>
      </select>
    </label>
  );

  if (error) {
    return (
      <main class="narrow">
        <h1>silo</h1>
        <ErrorBox error={error} />
      </main>
    );
  }
  if (session === undefined) return <Loading what="silo" />;

  const onSession = (s: Session) => {
    setSession(s);
    location.hash = "#/chat";
  };

  if (!session) {
    return (
      <>
        <header class="top">
          <a class="brand" href="#/chat">
            silo
          </a>
          {themeSwitch}
        </header>
        {route[0] === "bootstrap" ? (
          <Bootstrap onSession={onSession} />
        ) : route[0] === "recover" ? (
          <Recover onSession={onSession} />
        ) : route[0] === "invite" && route[1] ? (
          <Invite token={route[1]} onSession={onSession} />
        ) : (
          <SignIn onSession={onSession} />
        )}
      </>
    );
  }

  const out = async () => {
    await signOut().catch(() => undefined);
    setSession(null);
    location.hash = "#/";
  };

  if (session.restricted) {
    return (
      <main class="narrow">
        <h1>One more step</h1>
        <p>This server requires two-factor authentication for your account.</p>
        <EnrollTOTP onDone={refresh} />
        <button class="btn plain" onClick={out}>
          Sign out
        </button>
      </main>
    );
  }

  const isAdmin = session.user.role === "admin";
  const page = route[0];
  return (
    <>
      <header class="top">
        <a class="brand" href="#/chat">
          silo
        </a>
        <nav aria-label="Main">
          <a href="#/chat" aria-current={page === "chat" ? "page" : undefined}>
            Chat
          </a>
          <a href="#/account" aria-current={page === "account" ? "page" : undefined}>
            Account
          </a>
          {isAdmin && (
            <a href="#/admin" aria-current={page === "admin" ? "page" : undefined}>
              Admin
            </a>
          )}
        </nav>
        <span class="who">{session.user.name}</span>
        {themeSwitch}
        <button class="btn plain" onClick={out}>
          Sign out
        </button>
      </header>
      {page === "account" ? (
        <Account session={session} onChange={setSession} />
      ) : page === "admin" && isAdmin ? (
        <Admin session={session} tab={route[1] || "users"} />
      ) : (
        <Chat key={session.key?.recipient} session={session} conversation={page === "chat" ? route[1] : undefined} />
      )}
    </>
  );
}
