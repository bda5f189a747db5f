import { config } from 'zod/mini';
import en from 'zod/v4/locales/en.js';

/**
 * The project's zod: the "mini" build, the same validation core as zod's classic API with functions
 * instead of methods, so a Lambda bundle carries only the parts its schemas use (about 30 KB rather
 * than about 100 KB). Import it as a namespace (`import * as z from './zod.js'`) and use its members
 * directly, which lets the bundler drop the rest. Classic zod registers its English messages on
 * first use; mini loads no locale, so they are registered here, once, and every default message
 * reads as before.
 */
config(en());

export * from 'zod/mini';
