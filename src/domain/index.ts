export * from './definition';
export * from './duration';
export * from './expressions';
export * from './node-types';
export * from './planner';
export * from './policy';
export * from './validate';
