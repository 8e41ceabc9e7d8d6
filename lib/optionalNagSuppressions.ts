import { createRequire } from 'node:module';
import type { IConstruct } from 'constructs';

/** The part of cdk-nag's `NagSuppressions` the construct uses (cdk-nag's own types stay out of our .d.ts). */
export interface NagSuppressionsApi {
  addResourceSuppressions(
    construct: IConstruct | IConstruct[],
    suppressions: { id: string; reason: string; appliesTo?: string[] }[],
    applyToChildren?: boolean,
  ): void;
}

/**
 * cdk-nag's `NagSuppressions` when the app has cdk-nag installed, otherwise undefined.
 *
 * cdk-nag is an optional peer dependency: the construct's reviewed suppressions only matter to an app that
 * runs cdk-nag, which then has it installed; an app without cdk-nag should not have to install it. Loaded
 * with `require` because a constructor cannot await an `import()`; cdk-nag is CommonJS.
 */
export function optionalNagSuppressions(
  load: (id: string) => unknown = createRequire(import.meta.url),
): NagSuppressionsApi | undefined {
  try {
    return (load('cdk-nag') as { NagSuppressions: NagSuppressionsApi }).NagSuppressions;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'MODULE_NOT_FOUND') return undefined;
    throw error;
  }
}
