/**
 * Forms: one <Form> runs the submit, keeps the button busy, and shows the API's answer
 * when it fails: the manager's message and code inside the form that caused it, and,
 * when a 400 names a field (`detail.field`), that field marked with the message under it.
 * Field values live in the page's state, so nothing typed is lost on an error.
 */
import { type ComponentChildren, cloneElement, createContext, type VNode } from 'preact';
import { useContext, useId, useState } from 'preact/hooks';
import type { ApiError } from '../api/client.js';
import { ErrorNote } from './page.js';
import { toApiError } from './use-load.js';

const FormError = createContext<ApiError | null>(null);

export interface FormProps {
  title: string;
  submitLabel: string;
  onSubmit: () => Promise<unknown>;
  onCancel?: () => void;
  children: ComponentChildren;
  /** Checked before the call; a message here is shown like an API error. */
  validate?: () => string | null;
}

export function Form({ title, submitLabel, onSubmit, onCancel, children, validate }: FormProps) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);
  return (
    <form
      class="card form"
      aria-label={title}
      onSubmit={async (e) => {
        e.preventDefault();
        if (busy) return;
        setError(null);
        const invalid = validate?.();
        if (invalid) {
          setError(toApiError(new Error(invalid)));
          return;
        }
        setBusy(true);
        try {
          await onSubmit();
        } catch (err) {
          setError(toApiError(err));
        } finally {
          setBusy(false);
        }
      }}
    >
      <h2>{title}</h2>
      <FormError.Provider value={error}>
        <div class="fields">{children}</div>
      </FormError.Provider>
      {error && <ErrorNote error={error} context={`${submitLabel} failed`} />}
      <div class="form-actions">
        <button type="submit" class="primary" disabled={busy}>
          {busy ? 'Working…' : submitLabel}
        </button>
        {onCancel && (
          <button type="button" onClick={onCancel} disabled={busy}>
            Cancel
          </button>
        )}
      </div>
    </form>
  );
}

/**
 * A labelled field; `name` is the API's name for it, so a 400 naming it marks it here.
 * The one child is the control (it gets the label's id); `addon` sits beside it (a unit).
 */
export function Field({
  label,
  name,
  hint,
  children,
  addon,
  wide,
}: {
  label: string;
  name: string;
  hint?: ComponentChildren;
  children: VNode<Record<string, unknown>>;
  addon?: ComponentChildren;
  wide?: boolean;
}) {
  const error = useContext(FormError);
  const id = useId();
  const bad = !!error?.field && (error.field === name || error.field.startsWith(`${name}.`));
  const note = bad ? error.message : hint;
  const control = cloneElement(children, {
    id,
    'aria-invalid': bad ? 'true' : undefined,
    'aria-describedby': note ? `${id}-note` : undefined,
  });
  return (
    <div class={`field${bad ? ' invalid' : ''}${wide ? ' wide' : ''}`} data-field={name}>
      <label for={id} class="field-label">
        {label}
      </label>
      {addon ? (
        <span class="with-addon">
          {control}
          {addon}
        </span>
      ) : (
        control
      )}
      {note && (
        <span id={`${id}-note`} class={bad ? 'field-error' : 'field-hint'} role={bad ? 'alert' : undefined}>
          {note}
        </span>
      )}
    </div>
  );
}

/** State for a form's fields: `[values, set]`, where `set('name')` makes an onInput handler. */
export function useFields<T extends Record<string, string>>(initial: T) {
  const [values, setValues] = useState<T>(initial);
  const bind = (key: keyof T) => ({
    value: values[key],
    onInput: (e: Event) => {
      const v = (e.currentTarget as HTMLInputElement).value;
      setValues((s) => ({ ...s, [key]: v }));
    },
  });
  return { values, bind, reset: () => setValues(initial), set: setValues };
}
