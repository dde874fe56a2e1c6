/**
 * Asking first: a modal <dialog> names what will happen, and the action runs only on its
 * own button. A failure is shown in the dialog, next to the button that caused it;
 * success closes it. `ConfirmButton` is a button with its dialog; a long table uses one
 * `ConfirmDialog` for all its rows instead (a plain button per row opens it), so 1,000
 * rows do not carry 1,000 dialogs' state.
 */
import type { ComponentChildren } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import type { ApiError } from '../api/client.js';
import { ErrorNote } from './page.js';
import { toApiError } from './use-load.js';

export interface ConfirmDialogProps {
  title: string;
  children: ComponentChildren;
  /** The action's button ("Delete volume"). */
  confirmLabel: string;
  onConfirm: () => Promise<unknown>;
  onClose: () => void;
  tone?: 'danger' | 'plain';
}

export function ConfirmDialog({
  title,
  children,
  confirmLabel,
  onConfirm,
  onClose,
  tone = 'danger',
}: ConfirmDialogProps) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);
  const ref = useRef<HTMLDialogElement>(null);

  useEffect(() => {
    const d = ref.current;
    if (d && !d.open) d.showModal();
  }, []);

  return (
    <dialog ref={ref} class="confirm" aria-label={title} onClose={onClose}>
      <h2>{title}</h2>
      <div class="confirm-body">{children}</div>
      {error && <ErrorNote error={error} context={`${confirmLabel} failed`} />}
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
              ref.current?.close();
            } catch (err) {
              setError(toApiError(err));
            } finally {
              setBusy(false);
            }
          }}
        >
          {busy ? 'Working…' : confirmLabel}
        </button>
        <button type="button" onClick={() => ref.current?.close()} disabled={busy}>
          Cancel
        </button>
      </div>
    </dialog>
  );
}

export interface ConfirmButtonProps extends Omit<ConfirmDialogProps, 'onClose'> {
  /** The button's text ("Delete"). */
  label: string;
  /** Accessible name of the button when its text alone is ambiguous ("Delete db1"). */
  ariaLabel?: string;
  /** A row's button is small; a page's is not. */
  small?: boolean;
}

export function ConfirmButton({ label, ariaLabel, small = true, ...dialog }: ConfirmButtonProps) {
  const [open, setOpen] = useState(false);
  return (
    <>
      <button
        type="button"
        class={[dialog.tone !== 'plain' && 'danger', small && 'small'].filter(Boolean).join(' ') || undefined}
        aria-label={ariaLabel}
        onClick={() => setOpen(true)}
      >
        {label}
      </button>
      {open && <ConfirmDialog {...dialog} onClose={() => setOpen(false)} />}
    </>
  );
}
