//! The volume API's changes (`POST /volumes/create`, `DELETE /volumes/{name}`,
//! `POST /volumes/prune`), made through the container service so that they are reported as
//! events beside the volumes its containers create and mount.

use std::collections::BTreeMap;

use berth_volume::{Volume, VolumeError};

use crate::service::ContainerService;

impl ContainerService {
    /// `POST /volumes/create`.
    pub fn create_volume(
        &self,
        name: Option<&str>,
        driver: &str,
        labels: BTreeMap<String, String>,
        options: BTreeMap<String, String>,
    ) -> Result<Volume, VolumeError> {
        let (v, new) = self.volumes.create(name, driver, labels, options)?;
        if new {
            self.emit_volume(&v.name, "create", &[]);
        }
        Ok(v)
    }

    /// `DELETE /volumes/{name}`.
    pub fn remove_volume(&self, name: &str, force: bool) -> Result<(), VolumeError> {
        let existed = self.volumes.get(name).is_ok();
        self.volumes.remove(name, force)?;
        if existed {
            self.emit_volume(name, "destroy", &[]);
        }
        Ok(())
    }

    /// `POST /volumes/prune`: the unused volumes that `remove` picks, removed; returns
    /// their names and the bytes they held. A volume taken into use meanwhile stays.
    pub fn prune_volumes(&self, remove: impl Fn(&Volume) -> bool) -> (Vec<String>, u64) {
        let mut gone = Vec::new();
        let mut space = 0;
        for (v, users) in self.volumes.list() {
            if users > 0 || !remove(&v) {
                continue;
            }
            let size = self.volumes.size(&v.name);
            if self.remove_volume(&v.name, false).is_ok() {
                gone.push(v.name);
                space += size;
            }
        }
        (gone, space)
    }
}
