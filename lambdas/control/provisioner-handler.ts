/**
 * PLACEHOLDER so the stack bundles (lib/provisioner.ts): the provisioner's Lambda entry is written in
 * parallel (issue 11) and replaces this file. Until then it converges nothing: it answers every event
 * (a `{destinationId}` notify, the scheduled reconcile, the teardown custom resource's onEvent) with
 * success, so a deploy of this branch alone neither hangs nor fails on the custom resource.
 */
export async function handler(_event: unknown): Promise<Record<string, never>> {
  return {};
}
