/** The name of the table provisioned for a role (`TABLES` in lambdas/core/resources.ts); throws when missing. */
export function provisionedTable(tables: Readonly<Record<string, string>>, role: string): string {
  const name = tables[role];
  if (!name) throw new Error(`table ${role} was not provisioned`);
  return name;
}
