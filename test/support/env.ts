/**
 * Remembers the named environment variables now and returns a function that puts them back as
 * they were (unset ones unset again), for tests that switch settings such as the address guard.
 */
export function saveEnv(...names: string[]): () => void {
  const saved = names.map((name) => [name, process.env[name]] as const);
  return () => {
    for (const [name, value] of saved) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  };
}
