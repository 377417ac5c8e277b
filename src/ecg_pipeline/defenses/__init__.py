"""Training objectives (CE, NSR, Jacobian, adversarial) and the one trainer that runs them."""
