// The backend contract (contract.ts) against every backend: one line each.

import { backendContract } from "./contract.ts";
import {
  dockerFixture,
  dockerlikeFixture,
  macosContainerFixture,
  smolmachinesFixture,
} from "./contract_fixtures.ts";

backendContract(dockerFixture);
backendContract(dockerlikeFixture);
backendContract(macosContainerFixture);
backendContract(smolmachinesFixture);
