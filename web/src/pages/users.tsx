/**
 * Users and tokens (admins only): people and their roles (admin > operator > viewer),
 * their passwords, and API tokens for scripts and the CLI. A new token is shown once,
 * here, right after it is made; the manager keeps only its hash.
 */
import { useMemo, useState } from 'preact/hooks';
import type { Role } from '../api/access.js';
import type { NewTokenView, TokenView, UserView } from '../api/client.js';
import { ConfirmButton } from '../components/confirm.js';
import { Field, Form, useFields } from '../components/form.js';
import { ago, formatTime } from '../components/format.js';
import { Badge, LoadState, PageHeader } from '../components/page.js';
import { type Column, DataTable } from '../components/table.js';
import { useLoad } from '../components/use-load.js';
import { useApp } from '../context.js';

const ROLES: Role[] = ['viewer', 'operator', 'admin'];
const asRole = (s: string): Role => (ROLES.includes(s as Role) ? (s as Role) : 'viewer');

export function UsersPage() {
  const { api, session } = useApp();
  const data = useLoad(async (a) => ({ users: await a.listUsers(), tokens: await a.listTokens() }), []);
  const [form, setForm] = useState<'user' | 'token' | { edit: UserView } | null>(null);
  const [fresh, setFresh] = useState<NewTokenView | null>(null);
  const reload = data.reload;

  const userColumns = useMemo<Column<UserView>[]>(
    () => [
      {
        key: 'name',
        label: 'User',
        value: (u) => u.name,
        render: (u) => (
          <>
            <strong>{u.name}</strong>
            {u.name === session.user && <span class="muted"> (you)</span>}
          </>
        ),
      },
      {
        key: 'role',
        label: 'Role',
        value: (u) => u.role,
        render: (u) => <Badge tone={u.role === 'admin' ? 'info' : 'plain'}>{u.role}</Badge>,
      },
      {
        key: 'pw',
        label: 'Password',
        value: (u) => (u.hasPassword ? 'set' : 'none'),
        render: (u) => (u.hasPassword ? 'set' : <span class="muted">none (token only)</span>),
      },
      { key: 'created', label: 'Added', value: (u) => u.createdAt, render: (u) => formatTime(u.createdAt) },
      {
        key: 'actions',
        label: '',
        value: () => null,
        align: 'right',
        noSort: true,
        noFilter: true,
        render: (u) => (
          <span class="row-actions">
            <button
              type="button"
              class="small"
              aria-label={`Edit ${u.name}`}
              onClick={() => setForm({ edit: u })}
            >
              Edit
            </button>
            <ConfirmButton
              label="Remove"
              ariaLabel={`Remove user ${u.name}`}
              title={`Remove user ${u.name}?`}
              confirmLabel="Remove user"
              onConfirm={async () => {
                await api.removeUser(u.name);
                void reload();
              }}
            >
              <p>
                {u.name} can no longer sign in, and their tokens stop working. The last admin cannot be
                removed.
              </p>
            </ConfirmButton>
          </span>
        ),
      },
    ],
    [api, reload, session.user],
  );

  const tokenColumns = useMemo<Column<TokenView>[]>(
    () => [
      { key: 'id', label: 'ID', value: (t) => t.id, render: (t) => <code>{t.id}</code> },
      { key: 'user', label: 'User', value: (t) => t.user },
      {
        key: 'name',
        label: 'Name',
        value: (t) => t.name,
        render: (t) => (
          <>
            {t.name}
            {t.id === session.tokenId && <span class="muted"> (this session)</span>}
          </>
        ),
      },
      { key: 'created', label: 'Created', value: (t) => t.createdAt, render: (t) => formatTime(t.createdAt) },
      {
        key: 'expires',
        label: 'Expires',
        value: (t) => t.expiresAt ?? '',
        render: (t) => (t.expiresAt ? formatTime(t.expiresAt) : <span class="muted">never</span>),
      },
      {
        key: 'used',
        label: 'Last used',
        value: (t) => t.lastUsedAt ?? '',
        render: (t) => <span title={formatTime(t.lastUsedAt)}>{ago(t.lastUsedAt)}</span>,
        noFilter: true,
      },
      {
        key: 'actions',
        label: '',
        value: () => null,
        align: 'right',
        noSort: true,
        noFilter: true,
        render: (t) => (
          <ConfirmButton
            label="Revoke"
            ariaLabel={`Revoke token ${t.id}`}
            title={`Revoke token ${t.name} (${t.user})?`}
            confirmLabel="Revoke token"
            onConfirm={async () => {
              await api.revokeToken(t.id);
              void reload();
            }}
          >
            <p>
              Whatever uses token <code>{t.id}</code> is refused from now on
              {t.id === session.tokenId ? ', this console session included' : ''}.
            </p>
          </ConfirmButton>
        ),
      },
    ],
    [api, reload, session.tokenId],
  );

  const done = () => {
    setForm(null);
    void reload();
  };
  return (
    <section>
      <PageHeader title="Users and tokens">
        {form === null && (
          <>
            <button type="button" onClick={() => setForm('token')}>
              Create token
            </button>
            <button type="button" class="primary" onClick={() => setForm('user')}>
              Add user
            </button>
          </>
        )}
      </PageHeader>
      {form === 'user' && <AddUserForm onCancel={() => setForm(null)} onDone={done} />}
      {form !== null && typeof form === 'object' && (
        <EditUserForm key={form.edit.name} user={form.edit} onCancel={() => setForm(null)} onDone={done} />
      )}
      {form === 'token' && (
        <CreateTokenForm
          users={data.data?.users ?? []}
          onCancel={() => setForm(null)}
          onDone={(t) => {
            setFresh(t);
            done();
          }}
        />
      )}
      {fresh && (
        <div class="card new-token" role="status">
          <h2>
            Token {fresh.name} for {fresh.user}
          </h2>
          <p>Copy it now: it is not shown again.</p>
          <pre class="secret" data-testid="new-token">
            {fresh.token}
          </pre>
          <button type="button" onClick={() => setFresh(null)}>
            Done
          </button>
        </div>
      )}
      <LoadState loading={data.loading && !data.data} error={data.error} what="users and tokens" />
      {data.data && (
        <>
          <h2 class="section-title">Users</h2>
          <DataTable
            label="Users"
            rows={data.data.users}
            columns={userColumns}
            rowKey={(u) => u.name}
            noun={['user', 'users']}
            empty="No users."
            filter={false}
          />
          <h2 class="section-title">API tokens</h2>
          <DataTable
            label="API tokens"
            rows={data.data.tokens}
            columns={tokenColumns}
            rowKey={(t) => t.id}
            noun={['token', 'tokens']}
            initialSort={{ key: 'created', desc: true }}
            empty="No tokens."
          />
        </>
      )}
    </section>
  );
}

function RoleSelect({ value, onChange }: { value: string; onChange: (role: Role) => void }) {
  return (
    <select name="role" value={value} onChange={(e) => onChange(asRole(e.currentTarget.value))}>
      {ROLES.map((r) => (
        <option key={r} value={r}>
          {r}
        </option>
      ))}
    </select>
  );
}

function AddUserForm({ onDone, onCancel }: { onDone: () => void; onCancel: () => void }) {
  const { api } = useApp();
  const f = useFields({ name: '', role: 'viewer', password: '' });
  return (
    <Form
      title="Add a user"
      submitLabel="Add user"
      onCancel={onCancel}
      onSubmit={async () => {
        await api.addUser({
          name: f.values.name.trim(),
          role: asRole(f.values.role),
          ...(f.values.password ? { password: f.values.password } : {}),
        });
        onDone();
      }}
    >
      <Field label="Name" name="name">
        <input name="name" required autocomplete="off" {...f.bind('name')} />
      </Field>
      <Field
        label="Role"
        name="role"
        hint="viewer reads; operator also creates and deletes volumes; admin all."
      >
        <RoleSelect value={f.values.role} onChange={(role) => f.set((s) => ({ ...s, role }))} />
      </Field>
      <Field label="Password" name="password" hint="At least 8 characters; empty for a token-only user.">
        <input name="password" type="password" autocomplete="new-password" {...f.bind('password')} />
      </Field>
    </Form>
  );
}

function EditUserForm({
  user,
  onDone,
  onCancel,
}: {
  user: UserView;
  onDone: () => void;
  onCancel: () => void;
}) {
  const { api } = useApp();
  const f = useFields({ role: user.role as string, password: '', clear: '' });
  return (
    <Form
      title={`Edit ${user.name}`}
      submitLabel="Save"
      onCancel={onCancel}
      onSubmit={async () => {
        await api.updateUser(user.name, {
          ...(f.values.role !== user.role ? { role: asRole(f.values.role) } : {}),
          ...(f.values.clear ? { password: null } : f.values.password ? { password: f.values.password } : {}),
        });
        onDone();
      }}
    >
      <Field label="Role" name="role">
        <RoleSelect value={f.values.role} onChange={(role) => f.set((s) => ({ ...s, role }))} />
      </Field>
      <Field label="New password" name="password" hint="Leave empty to keep the current one.">
        <input
          name="password"
          type="password"
          autocomplete="new-password"
          disabled={!!f.values.clear}
          {...f.bind('password')}
        />
      </Field>
      {user.hasPassword && (
        <label class="check">
          <input
            type="checkbox"
            name="clear"
            checked={!!f.values.clear}
            onChange={(e) => f.set((s) => ({ ...s, clear: e.currentTarget.checked ? 'yes' : '' }))}
          />
          Remove the password (token-only user)
        </label>
      )}
    </Form>
  );
}

function CreateTokenForm({
  users,
  onDone,
  onCancel,
}: {
  users: UserView[];
  onDone: (t: NewTokenView) => void;
  onCancel: () => void;
}) {
  const { api, session } = useApp();
  const f = useFields({ name: '', user: session.user, days: '' });
  return (
    <Form
      title="Create an API token"
      submitLabel="Create token"
      onCancel={onCancel}
      validate={() =>
        f.values.days && !(Number(f.values.days) > 0)
          ? 'Days must be a positive number, or empty for never.'
          : null
      }
      onSubmit={async () => {
        const days = Number(f.values.days);
        const t = await api.createToken({
          name: f.values.name.trim(),
          user: f.values.user,
          ...(f.values.days ? { expiresInSeconds: Math.max(60, Math.round(days * 86400)) } : {}),
        });
        onDone(t);
      }}
    >
      <Field label="Name" name="name" hint="What uses it: ci, backup-script…">
        <input name="name" required autocomplete="off" {...f.bind('name')} />
      </Field>
      <Field label="For user" name="user">
        <select
          name="user"
          value={f.values.user}
          onChange={(e) => f.set((s) => ({ ...s, user: e.currentTarget.value }))}
        >
          {users.map((u) => (
            <option key={u.name} value={u.name}>
              {u.name} ({u.role})
            </option>
          ))}
        </select>
      </Field>
      <Field label="Expires in days" name="expiresInSeconds" hint="Empty: never.">
        <input name="days" inputMode="numeric" autocomplete="off" {...f.bind('days')} />
      </Field>
    </Form>
  );
}
