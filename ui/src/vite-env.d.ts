// import.meta.glob (ui/src/examples.ts) without pulling in all of vite/client's ambient types.
interface ImportMeta {
  glob<T>(pattern: string, options: { eager: true; import: 'default' }): Record<string, T>;
}
