/**
 * cli-table3's style for the tables `npm start` and `npm run chaos` print: bold headers and grey borders on
 * a terminal, nothing when the output is piped, `TERM=dumb` or NO_COLOR is set (https://no-color.org).
 * Never cli-table3's default red headers, which read as an error.
 */
export function tableStyle(
  stream: { isTTY?: boolean },
  env: NodeJS.ProcessEnv,
): { head: string[]; border: string[] } {
  const colour = stream.isTTY === true && (env.NO_COLOR ?? '') === '' && env.TERM !== 'dumb';
  return colour ? { head: ['bold'], border: ['grey'] } : { head: [], border: [] };
}
