/**
 * The actions of the audit trail (DESIGN.md "Trace, health, audit"). A module of its own, importing
 * nothing, so the operator console's page (cli/console/web, bundled for the browser) offers the same list.
 */
export const AUDIT_ACTIONS = [
  'destination.created',
  'destination.updated',
  'destination.credentials-rotated',
  'destination.paused',
  'destination.resumed',
  'destination.tested',
  'destination.deleted',
  'replay.started',
  'replay.finished',
] as const;
export type AuditAction = (typeof AUDIT_ACTIONS)[number];
