//! `POST /containers/{id}/rename`.

use crate::error::ContainerError;
use crate::record::valid_name;
use crate::service::ContainerService;

impl ContainerService {
    /// `POST /containers/{id}/rename`.
    pub fn rename(&self, key: &str, new_name: &str) -> Result<(), ContainerError> {
        if !valid_name(new_name) {
            return Err(ContainerError::Invalid(format!(
                "Invalid container name ({new_name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
            )));
        }
        let new = format!("/{}", new_name.trim_start_matches('/'));
        let mut recs = self.records.lock().unwrap();
        let mut c = recs.find(key)?.clone();
        if c.name == new {
            return Err(ContainerError::Invalid(
                "Renaming a container with the same name as its current name".into(),
            ));
        }
        if let Some(other) = recs.by_name(&new) {
            return Err(ContainerError::Conflict(format!(
                "Conflict. The container name \"{new}\" is already in use by container \"{}\". You have to remove (or rename) that container to be able to reuse that name.",
                other.id
            )));
        }
        let old = std::mem::replace(&mut c.name, new);
        recs.save(&self.paths, &c)
            .map_err(ContainerError::io("saving the container record"))?;
        drop(recs);
        self.emit(&c, "rename", &[("oldName", old)]);
        Ok(())
    }
}
