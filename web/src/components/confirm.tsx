/**
 * A button that asks first: a modal <dialog> names what will happen, and the action runs
 * only on the second click. A failure is shown in the dialog, next to the button that
 * caused it; success closes it.
 */
import type { ComponentChildren } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import type { ApiError } from '../api/client.js';
import { ErrorNote } from './page.js';
import { toApiError } from './use-load.js';

export interface ConfirmProps {
  /** The button's text ("Delete"). */
  label: string;
  /** Accessible name of the button when its text alone is ambiguous ("Delete db1"). */
  ariaLabel?: string;
  title: string;
  children: ComponentChildren;
  confirmLabel?: string;
  onConfirm: () => Promise<unknown>;
  tone?: 'danger' | 'plain';
  /** A row's button is small; a page's is not. */
  small?: boolean;
}

export function ConfirmButton({
  label,
  ariaLabel,
  title,
  children,
  confirmLabel,
  onConfirm,
  tone = 'danger',
  small = true,
}: ConfirmProps) {
  const [open, setOpen] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);
  const ref = useRef<HTMLDialogElement>(null);

  useEffect(() => {
    const d = ref.current;
    if (open && d && !d.open) d.showModal();
  }, [open]);

  const close = () => {
    ref.current?.close();
    setOpen(false);
    setError(null);
  };

  return (
    <>
      <button
        type="button"
        class={[tone === 'danger' && 'danger', small && 'small'].filter(Boolean).join(' ') || undefined}
        aria-label={ariaLabel}
        onClick={() => setOpen(true)}
      >
        {label}
      </button>
      {open && (
        <dialog ref={ref} class="confirm" aria-label={title} onClose={() => setOpen(false)}>
          <h2>{title}</h2>
          <div class="confirm-body">{children}</div>
          {error && <ErrorNote error={error} context={`${confirmLabel ?? label} failed`} />}
          <div class="form-actions">
            <button
              type="button"
              class={tone === 'danger' ? 'danger' : 'primary'}
              disabled={busy}
              onClick={async () => {
                setBusy(true);
                setError(null);
                try {
                  await onConfirm();
                  close();
                } catch (err) {
                  setError(toApiError(err));
                } finally {
                  setBusy(false);
                }
              }}
            >
              {busy ? 'Working…' : (confirmLabel ?? label)}
            </button>
            <button type="button" onClick={close} disabled={busy}>
              Cancel
            </button>
          </div>
        </dialog>
      )}
    </>
  );
}
