import { runConformance } from './conformance.js';

runConformance('redis');
