/**
 * The shell: signed out, the sign-in page; signed in, the navigation (only the pages the
 * role may open), who is signed in and as what, and the page the path names.
 */
import { useEffect, useMemo, useState } from 'preact/hooks';
import { can, ROUTE_ACCESS } from './api/access.js';
import { Api, type ApiError } from './api/client.js';
import { AppContext, type AppState, useApp } from './context.js';
import { SignInPage } from './pages/sign-in.js';
import { Link, matchPath, navigate, useLocation } from './router.js';
import { HOME, type PageRoute, ROUTES } from './routes.js';
import { clearSession, loadSession, type Session, saveSession } from './session.js';

export function App() {
  const [session, setSession] = useState<Session | null>(loadSession);
  const [notice, setNotice] = useState<string | undefined>();
  const { path } = useLocation();

  const signOut = (reason?: string) => {
    clearSession();
    setSession(null);
    setNotice(reason);
  };

  const api = useMemo(
    () => new Api(session?.token ?? null, (err: ApiError) => signOut(`Signed out: ${err.message}`)),
    [session?.token],
  );

  // A stored session is checked once at load: the token may have expired or been revoked.
  useEffect(() => {
    if (!session) return;
    api.whoami().then(
      (me) => {
        if (me.role !== session.role || me.user !== session.user) {
          const s = { ...session, user: me.user, role: me.role };
          saveSession(s);
          setSession(s);
        }
      },
      () => {}, // a 401 signs out through the client; anything else leaves the session as it is
    );
  }, [session?.token]);

  if (!session) {
    return (
      <SignInPage
        notice={notice}
        onSignedIn={(s) => {
          saveSession(s);
          setNotice(undefined);
          setSession(s);
          if (path === '/' || path === '/sign-in') navigate(HOME, { replace: true });
        }}
      />
    );
  }

  const state: AppState = {
    session,
    api,
    signOut(reason?: string) {
      // A token the console asked for ends with the session; a pasted API token is left alone.
      const revoke = session.fromSignIn ? api.revokeToken(session.tokenId) : Promise.resolve();
      void revoke
        .catch(() => {})
        .finally(() => {
          signOut(reason);
          navigate('/', { replace: true }); // the next user starts at home, not on this user's page
        });
    },
  };

  return (
    <AppContext.Provider value={state}>
      <Shell path={path} />
    </AppContext.Provider>
  );
}

function Shell({ path }: { path: string }) {
  const { session, signOut } = useApp();
  const redirect = path === '/' || path === '/sign-in';
  useEffect(() => {
    if (redirect) navigate(HOME, { replace: true });
  }, [redirect]);
  let route: PageRoute | undefined;
  let params: Record<string, string> = {};
  for (const r of ROUTES) {
    const m = matchPath(r.path, path);
    if (m) {
      route = r;
      params = m;
      break;
    }
  }
  const title = route ? `${route.title} · Rebound` : 'Rebound';
  useEffect(() => {
    document.title = title;
  }, [title]);
  if (redirect) return null;
  const allowed = route ? can(session.role, route.needs) : false;
  const Page = route?.page;

  return (
    <div class="shell">
      <header class="topbar">
        <Link href={HOME} class="brand">
          Rebound
        </Link>
        <span class="spacer" />
        <span class="who" data-testid="who">
          <span class="user">{session.user}</span>
          <span class={`role role-${session.role}`} data-testid="role">
            {session.role}
          </span>
        </span>
        <button type="button" class="link" data-safe onClick={() => signOut()}>
          Sign out
        </button>
      </header>
      <nav class="sidenav" aria-label="Pages">
        {ROUTES.filter((r) => r.nav && can(session.role, r.needs)).map((r) => (
          <Link
            key={r.path}
            href={r.path}
            class={path === r.path || path.startsWith(`${r.path}/`) ? 'active' : undefined}
          >
            {r.nav}
          </Link>
        ))}
      </nav>
      <main class="content">
        {!route || !Page ? (
          <section>
            <h1>Not found</h1>
            <p>
              There is no page at <code>{path}</code>. <Link href={HOME}>Go to the volumes.</Link>
            </p>
          </section>
        ) : !allowed ? (
          <section data-testid="forbidden">
            <h1>{route.title}</h1>
            <p class="error-note" role="alert">
              This page needs the {ROUTE_ACCESS[route.needs]} role; you are signed in as {session.user} (
              {session.role}).
            </p>
          </section>
        ) : (
          <Page key={path} params={params} />
        )}
      </main>
    </div>
  );
}
