import type {CodeIdentity, Step} from '../lib/runtime/index.js';

/**
 * A step as edw loads it: the built-in steps, the command step, and what a module step exports (its
 * default export, or its export named `step`):
 *
 * ```js
 * export default {
 *   version: '1',
 *   settings: {window: 'samples averaged per point'},
 *   checkSettings(settings) {
 *     if (settings.window !== undefined && !(Number(settings.window) > 0)) throw new Error(`window = ${settings.window}: expected a number above 0`);
 *   },
 *   async run(doc, ctx) { ... ctx.settings.window ... },
 * };
 * ```
 */
export interface StepDefinition extends Step {
  /**
   * The step's own settings: the keys its `[step.NAME]` section may hold besides the common ones
   * (after, kind/command/module, version, concurrency, attempts, timeout), each with a one-line
   * description. Any other key is refused when a listener starts (exit 2), naming the key, the
   * section and the keys it knows. A step that declares none takes none. @default {}
   */
  settings?: Readonly<Record<string, string>>;
  /**
   * Check the section's values once, when a listener starts, before any document is touched. Throw
   * to refuse them: a ConfigError is shown as it is, any other error's first line after
   * `[step.NAME] ` (so `threshold = abc: expected a number` names the key); the listener exits 2.
   * `settings` is the whole section as strings, paths (keys ending in _dir, _file, _path) made absolute.
   * @default no check
   */
  checkSettings?(settings: Readonly<Record<string, string>>, step: string): void | Promise<void>;
  /** The code the step runs, recorded in each entry (the command step's executable). @default the module file, or edw's release for a built-in */
  identify?(): Promise<CodeIdentity | undefined>;
}
