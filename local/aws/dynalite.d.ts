// dynalite ships no types; this covers the part of its programmatic API that startDynamoDbEmulator uses.
declare module 'dynalite' {
  import type { Server } from 'node:http';

  namespace dynalite {
    interface Options {
      /** How long a new table stays CREATING. @default 500 ms */
      createTableMs?: number;
      /** @default 500 ms */
      deleteTableMs?: number;
      /** @default 500 ms */
      updateTableMs?: number;
      /** @default 400 KB */
      maxItemSizeKb?: number;
      /** LevelDB directory; in memory when absent. */
      path?: string;
      verbose?: boolean;
      debug?: boolean;
    }
  }

  function dynalite(options?: dynalite.Options): Server;
  export = dynalite;
}
