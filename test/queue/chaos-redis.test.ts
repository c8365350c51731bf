import { chaosCase } from './chaos-case.js';

chaosCase('redis');
