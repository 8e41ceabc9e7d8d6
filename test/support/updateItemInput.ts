import type { AttributeValue, UpdateItemCommandInput } from '@aws-sdk/client-dynamodb';

/**
 * An UpdateItem input read back in plain terms: `#names` and `:values` resolved, so a test states what is
 * written (`set: { status: 'succeeded' }`) instead of which placeholder number carries it.
 */
export interface DecodedUpdate {
  table: string | undefined;
  key: string | undefined;
  /** Attribute → value (a bare `:value`), or the expression text with placeholders resolved. */
  set: Record<string, unknown>;
  remove: string[];
  add: Record<string, unknown>;
  /** The condition with placeholders resolved; values are written `'text'`, numbers and booleans bare. */
  condition: string | undefined;
}

export function decodeUpdate(input: UpdateItemCommandInput): DecodedUpdate {
  const names = input.ExpressionAttributeNames ?? {};
  const values = input.ExpressionAttributeValues ?? {};
  const name = (token: string) => token.replace(/#[A-Za-z0-9_]+/g, (n) => names[n] ?? `<undefined ${n}>`);
  const literal = (text: string) =>
    name(text).replace(/:[A-Za-z0-9_]+/g, (v) => {
      const value = values[v];
      if (value === undefined) return `<undefined ${v}>`;
      const plain = unwrap(value);
      return typeof plain === 'string' ? `'${plain}'` : String(plain);
    });
  const rhs = (text: string): unknown => {
    const value = /^:[A-Za-z0-9_]+$/.test(text) ? values[text] : undefined;
    return value === undefined ? literal(text) : unwrap(value);
  };

  const decoded: DecodedUpdate = {
    table: input.TableName,
    key: input.Key?.idempotency_key?.S,
    set: {},
    remove: [],
    add: {},
    condition: input.ConditionExpression === undefined ? undefined : literal(input.ConditionExpression),
  };
  for (const [clause, body] of clauses(input.UpdateExpression ?? '')) {
    for (const action of splitTopLevel(body)) {
      if (clause === 'SET') {
        const [path = '', ...expression] = action.split('=');
        decoded.set[name(path.trim())] = rhs(expression.join('=').trim());
      } else if (clause === 'REMOVE') {
        decoded.remove.push(name(action));
      } else {
        const [path = '', value = ''] = action.split(/\s+/);
        decoded.add[name(path)] = rhs(value);
      }
    }
  }
  return decoded;
}

/**
 * DynamoDB refuses an input whose ExpressionAttributeNames/Values hold an entry that no expression uses, and
 * one whose expressions use a placeholder that is not defined. Returns every such problem (none: `[]`).
 */
export function placeholderProblems(input: UpdateItemCommandInput): string[] {
  const expressions = [input.UpdateExpression ?? '', input.ConditionExpression ?? ''].join(' ');
  const used = (prefix: '#' | ':') =>
    new Set(expressions.match(new RegExp(`${prefix}[A-Za-z0-9_]+`, 'g')) ?? []);
  const problems: string[] = [];
  for (const [prefix, defined] of [
    ['#', Object.keys(input.ExpressionAttributeNames ?? {})],
    [':', Object.keys(input.ExpressionAttributeValues ?? {})],
  ] as const) {
    const usedHere = used(prefix);
    for (const placeholder of defined) if (!usedHere.has(placeholder)) problems.push(`unused ${placeholder}`);
    for (const placeholder of usedHere)
      if (!defined.includes(placeholder)) problems.push(`undefined ${placeholder}`);
  }
  return problems;
}

function unwrap(value: AttributeValue): unknown {
  if (value.S !== undefined) return value.S;
  if (value.N !== undefined) return Number(value.N);
  if (value.BOOL !== undefined) return value.BOOL;
  return value;
}

function clauses(expression: string): Array<['SET' | 'REMOVE' | 'ADD' | 'DELETE', string]> {
  const parts = expression.split(/\b(SET|REMOVE|ADD|DELETE)\b/).map((part) => part.trim());
  const result: Array<['SET' | 'REMOVE' | 'ADD' | 'DELETE', string]> = [];
  for (let i = 1; i < parts.length; i += 2) {
    result.push([parts[i] as 'SET' | 'REMOVE' | 'ADD' | 'DELETE', parts[i + 1] ?? '']);
  }
  return result;
}

/** Splits on commas outside parentheses: `a = if_not_exists(a, :x), b = :y` is two actions. */
function splitTopLevel(text: string): string[] {
  const actions: string[] = [];
  let depth = 0;
  let current = '';
  for (const char of text) {
    if (char === '(') depth += 1;
    if (char === ')') depth -= 1;
    if (char === ',' && depth === 0) {
      actions.push(current.trim());
      current = '';
    } else {
      current += char;
    }
  }
  if (current.trim() !== '') actions.push(current.trim());
  return actions;
}
