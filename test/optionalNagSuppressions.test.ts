import { NagSuppressions } from 'cdk-nag';
import { describe, expect, it } from 'vitest';
import { optionalNagSuppressions } from '../lib/optionalNagSuppressions.js';

describe('optionalNagSuppressions (cdk-nag is an optional peer dependency)', () => {
  it('is cdk-nag’s NagSuppressions when the app has cdk-nag installed', () => {
    expect(optionalNagSuppressions()).toBe(NagSuppressions);
  });

  it('is undefined when cdk-nag is not installed: the construct then adds no suppression', () => {
    const notInstalled = (id: string) => {
      throw Object.assign(new Error(`Cannot find module '${id}'`), { code: 'MODULE_NOT_FOUND' });
    };
    expect(optionalNagSuppressions(notInstalled)).toBeUndefined();
  });

  it('does not hide a cdk-nag that is installed but fails to load', () => {
    const broken = () => {
      throw new SyntaxError('Unexpected token');
    };
    expect(() => optionalNagSuppressions(broken)).toThrow(new SyntaxError('Unexpected token'));
  });
});
