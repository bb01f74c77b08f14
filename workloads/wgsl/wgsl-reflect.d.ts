// wgsl_reflect's "main" is a build Node cannot load as ESM; its ES module is this file, typed as the package.
declare module 'wgsl_reflect/wgsl_reflect.module.js' {
  export * from 'wgsl_reflect';
}
