/**
 * Sign-in: a user name and password for a session token (POST /v1/auth/sign-in), or an
 * API token pasted in (checked with GET /v1/auth/whoami): the bootstrap admin has only
 * a token until someone gives it a password.
 */
import { useState } from 'preact/hooks';
import { Api } from '../api/client.js';
import { Field, Form, useFields } from '../components/form.js';
import type { Session } from '../session.js';

export function SignInPage({ onSignedIn, notice }: { onSignedIn: (s: Session) => void; notice?: string }) {
  const [mode, setMode] = useState<'password' | 'token'>('password');
  const pw = useFields({ user: '', password: '' });
  const tk = useFields({ token: '' });
  const anon = new Api(null);

  return (
    <main class="sign-in">
      <div class="sign-in-box">
        <p class="brand-large">Rebound</p>
        <p class="muted">Block-storage disaster recovery: the management console.</p>
        {notice && (
          <p class="notice" role="status">
            {notice}
          </p>
        )}
        <div class="tabs" role="tablist">
          <button
            type="button"
            role="tab"
            aria-selected={mode === 'password'}
            class={mode === 'password' ? 'tab active' : 'tab'}
            onClick={() => setMode('password')}
          >
            Password
          </button>
          <button
            type="button"
            role="tab"
            aria-selected={mode === 'token'}
            class={mode === 'token' ? 'tab active' : 'tab'}
            onClick={() => setMode('token')}
          >
            API token
          </button>
        </div>
        {mode === 'password' ? (
          <Form
            title="Sign in"
            submitLabel="Sign in"
            onSubmit={async () => {
              const t = await anon.signIn(pw.values.user.trim(), pw.values.password);
              onSignedIn({ token: t.token, user: t.user, role: t.role, tokenId: t.id, fromSignIn: true });
            }}
          >
            <Field label="User" name="user">
              <input name="user" autocomplete="username" required autofocus {...pw.bind('user')} />
            </Field>
            <Field label="Password" name="password">
              <input
                name="password"
                type="password"
                autocomplete="current-password"
                required
                {...pw.bind('password')}
              />
            </Field>
          </Form>
        ) : (
          <Form
            title="Sign in with an API token"
            submitLabel="Sign in"
            onSubmit={async () => {
              const token = tk.values.token.trim();
              const me = await anon.withToken(token).whoami();
              onSignedIn({ token, user: me.user, role: me.role, tokenId: me.tokenId, fromSignIn: false });
            }}
          >
            <Field
              label="Token"
              name="token"
              hint="The manager prints the first admin's token once, at its first start; admins make more under Users and tokens."
            >
              <input name="token" type="password" autocomplete="off" required {...tk.bind('token')} />
            </Field>
          </Form>
        )}
      </div>
    </main>
  );
}
