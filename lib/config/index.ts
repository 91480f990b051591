export {loadConfig, DEFAULTS_FILE, type LoadConfigOptions} from './load.js';
export {formatDuration, parseDuration} from './duration.js';
export {BUILTIN_KINDS, COMMON_STEP_KEYS, type BuiltinKind, type Config, type DatabaseConfig, type ListenConfig, type LogConfig, type QueryConfig, type RegisterConfig, type ServeConfig, type StepConfig} from './types.js';
