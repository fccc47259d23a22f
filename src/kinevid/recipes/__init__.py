"""Every training task in one home, one module each: data + model + loss handed to `kinevid.train.Trainer`."""
