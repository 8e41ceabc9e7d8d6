/**
 * Replaces one method of `target` in place with `wrap(original)`, the original bound to `target`. The worker's
 * parts keep their state in private fields, so a wrapper object would not do; shadowing the method on the
 * instance does, and the instance stays what the worker's types ask for.
 */
export function wrapMethod<
  T extends object,
  K extends { [P in keyof T]: T[P] extends (...args: never[]) => unknown ? P : never }[keyof T],
>(target: T, name: K, wrap: (original: T[K]) => T[K]): T {
  const original = (target[name] as (...args: unknown[]) => unknown).bind(target) as T[K];
  Object.defineProperty(target, name, { value: wrap(original), configurable: true, writable: true });
  return target;
}
