/**
 * Configuration, read in one place (DESIGN §4, §7): the table of settings (settings.ts), their
 * kinds (kinds.ts), families of named variables (families.ts), loading and validation (load.ts),
 * this process's installed config (process.ts) and the Temporal connection (temporal.ts).
 * Nothing else in src/ reads process.env.
 */
export { SETTINGS, type SettingName, type SettingValues, type TrustProxy } from './settings';
export { formatDuration, type Role, type Setting } from './kinds';
export { FAMILY_DOCS, type PostgresConnectionSetting } from './families';
export { ConfigError, describeConfig, loadConfig, maskSecret, withValues, type Environment, type TrellisConfig } from './load';
export { childProcessEnvironment, installConfig, processEnvironment, postgresConnectionSetting, processConfig, quotaSettings, setting, uninstallConfig } from './process';
export { TemporalConnectError, connectionOptions, describeTemporalSecurity, temporalSettings, type TemporalSettings } from './temporal';
